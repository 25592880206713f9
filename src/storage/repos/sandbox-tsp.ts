import type { Updateable } from 'kysely';
import type { SandboxCryptogramsTable, SandboxTspTokensTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type SandboxTspTokenRow = SandboxTspTokensTable;
export type SandboxCryptogramRow = SandboxCryptogramsTable;

/** Inserts a token unless a unique key is taken; returns whether this call inserted. */
export async function insertSandboxToken(db: Executor, row: SandboxTspTokenRow): Promise<boolean> {
  const result = await db
    .insertInto('sandbox_tsp_tokens')
    .values(row)
    // Any unique key: the requestor key (a concurrent identical request) or the token PAN (a random collision).
    .onConflict((oc) => oc.doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findSandboxTokenByRequestorKey(db: Executor, key: string): Promise<SandboxTspTokenRow | undefined> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('requestor_key', '=', key).executeTakeFirst();
}

export async function findSandboxTokenByRequestId(db: Executor, requestId: string): Promise<SandboxTspTokenRow | undefined> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('request_id', '=', requestId).executeTakeFirst();
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
