import type { Updateable } from 'kysely';
import type { SandboxCryptogramsTable, SandboxTspTokensTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

export type SandboxTspTokenRow = SandboxTspTokensTable;
export type SandboxCryptogramRow = SandboxCryptogramsTable;

/** Every column of a sandbox token, in the order `insertSandboxToken`'s parameters follow. */
const TOKEN_COLUMNS = Object.keys({
  id: 1, merchant_id: 1, network: 1, requestor_key: 1, pan_fingerprint: 1, card_ct: 1, token_pan_ct: 1, token_pan_fingerprint: 1, token_last4: 1,
  token_expiry: 1, card_expiry: 1, par: 1, bin: 1, status: 1, suspended_by: 1, created_at: 1, updated_at: 1, request_id: 1,
} satisfies Record<keyof SandboxTspTokenRow, 1>) as (keyof SandboxTspTokenRow)[];

// Once per token issued (every batch record): built once (see `compiledOnce`).
const insertTokenQuery = compiledOnce((db: Executor, ...values: unknown[]) =>
  db
    .insertInto('sandbox_tsp_tokens')
    .values(Object.fromEntries(TOKEN_COLUMNS.map((c, i) => [c, values[i]])) as unknown as SandboxTspTokenRow)
    // Any unique key: the requestor key (a concurrent identical request) or the token PAN (a random collision).
    .onConflict((oc) => oc.doNothing()),
);
const byRequestorKeyQuery = compiledOnce((db: Executor, key: string) => db.selectFrom('sandbox_tsp_tokens').selectAll().where('requestor_key', '=', key));
const byRequestIdQuery = compiledOnce((db: Executor, requestId: string) => db.selectFrom('sandbox_tsp_tokens').selectAll().where('request_id', '=', requestId));

/** Inserts a token unless a unique key is taken; returns whether this call inserted. */
export async function insertSandboxToken(engine: Engine, db: Executor, row: SandboxTspTokenRow): Promise<boolean> {
  const result = await insertTokenQuery(engine, db, ...TOKEN_COLUMNS.map((c) => row[c] ?? null));
  return Number(result.numAffectedRows ?? 0) > 0;
}

export async function findSandboxTokenByRequestorKey(engine: Engine, db: Executor, key: string): Promise<SandboxTspTokenRow | undefined> {
  return (await byRequestorKeyQuery(engine, db, key)).rows[0];
}

export async function findSandboxTokenByRequestId(engine: Engine, db: Executor, requestId: string): Promise<SandboxTspTokenRow | undefined> {
  return (await byRequestIdQuery(engine, db, requestId)).rows[0];
}

export async function findSandboxToken(db: Executor, id: string): Promise<SandboxTspTokenRow | undefined> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findSandboxTokenByTokenPan(db: Executor, fingerprint: string): Promise<SandboxTspTokenRow | undefined> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('token_pan_fingerprint', '=', fingerprint).executeTakeFirst();
}

export async function listSandboxTokensByPar(db: Executor, par: string): Promise<SandboxTspTokenRow[]> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('par', '=', par).orderBy('created_at').execute();
}

export async function updateSandboxToken(db: Executor, id: string, patch: Updateable<SandboxTspTokensTable>): Promise<void> {
  await db.updateTable('sandbox_tsp_tokens').set(patch).where('id', '=', id).execute();
}

export async function insertSandboxCryptogram(db: Executor, row: SandboxCryptogramRow): Promise<void> {
  await db.insertInto('sandbox_cryptograms').values(row).execute();
}

export async function findSandboxCryptogram(db: Executor, hash: string): Promise<SandboxCryptogramRow | undefined> {
  return db.selectFrom('sandbox_cryptograms').selectAll().where('cryptogram_hash', '=', hash).executeTakeFirst();
}

/** Marks a cryptogram used, once: false when it was already used (a replay) or has expired. */
export async function useSandboxCryptogram(db: Executor, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('sandbox_cryptograms')
    .set({ used_at: now })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
