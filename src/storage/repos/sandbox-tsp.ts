import { sql, type Updateable } from 'kysely';
import type { SandboxCryptogramsTable, SandboxTspTokensTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledInsert, compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';
import type { SharedSession } from '../shared-session.ts';

export type SandboxTspTokenRow = SandboxTspTokensTable;
export type SandboxCryptogramRow = SandboxCryptogramsTable;

// Once per token issued (every batch record): built once (see `compiledInsert`).
const insertTokenQuery = compiledInsert<SandboxTspTokenRow>(
  {
    id: 1, merchant_id: 1, network: 1, requestor_key: 1, pan_fingerprint: 1, card_ct: 1, token_pan_ct: 1, token_pan_fingerprint: 1, token_last4: 1,
    token_expiry: 1, card_expiry: 1, par: 1, bin: 1, status: 1, suspended_by: 1, created_at: 1, updated_at: 1, request_id: 1,
  },
  // Any unique key: the requestor key (the identity already has a token, or a concurrent identical
  // request won it), the request id (a retried request) or the token number (never expected).
  (db, row) => db.insertInto('sandbox_tsp_tokens').values(row).onConflict((oc) => oc.doNothing()),
);
const byRequestorKeyQuery = compiledOnce((db: Executor, key: string) => db.selectFrom('sandbox_tsp_tokens').selectAll().where('requestor_key', '=', key));
const byRequestIdQuery = compiledOnce((db: Executor, requestId: string) => db.selectFrom('sandbox_tsp_tokens').selectAll().where('request_id', '=', requestId));

/** Inserts a token unless a unique key is taken; returns whether this call inserted. `session`: the statement runs in it. */
export async function insertSandboxToken(engine: Engine, db: Executor, row: SandboxTspTokenRow, session?: SharedSession): Promise<boolean> {
  const result = session ? await session.execute(insertTokenQuery.compile(engine, db, row)) : await insertTokenQuery(engine, db, row);
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

// The statements of a payment with a network token (a cryptogram issued, then checked and used
// once) are on the path of every such order: built once (see `compiledOnce`), and they read only
// the columns they use (a token row's other ciphertexts are long strings to copy out).
const ISSUING_COLUMNS = ['id', 'merchant_id', 'network', 'status', 'token_pan_ct', 'token_pan_fingerprint', 'token_expiry'] as const;
/** What issuing a cryptogram reads of a token. */
export type IssuingTokenRow = Pick<SandboxTspTokenRow, (typeof ISSUING_COLUMNS)[number]>;

const issuingTokenQuery = compiledOnce((db: Executor, id: string) => db.selectFrom('sandbox_tsp_tokens').select(ISSUING_COLUMNS).where('id', '=', id));

/** `findSandboxToken`, with only what issuing a cryptogram needs. */
export async function findIssuingSandboxToken(engine: Engine, db: Executor, id: string): Promise<IssuingTokenRow | undefined> {
  return (await issuingTokenQuery(engine, db, id)).rows[0];
}

export async function findSandboxTokenByTokenPan(db: Executor, lookupKey: string): Promise<SandboxTspTokenRow | undefined> {
  return db.selectFrom('sandbox_tsp_tokens').selectAll().where('token_pan_fingerprint', '=', lookupKey).executeTakeFirst();
}

/**
 * Takes the next `size` values of counter `name` (one statement, atomic on both engines: processes
 * sharing a database never get the same values); returns the first. A block a process does not use
 * up is a gap, never a repeat.
 */
export async function takeCounterBlock(db: Executor, name: string, size: number): Promise<number> {
  const row = await db
    .insertInto('sandbox_counters')
    .values({ name, next: size })
    .onConflict((oc) => oc.column('name').doUpdateSet((eb) => ({ next: eb('sandbox_counters.next', '+', size) })))
    .returning('next')
    .executeTakeFirstOrThrow();
  return Number(row.next) - size;
}

/**
 * Raises counter `name` to at least `floor` (never lowers it): after a counter went back (a
 * restored backup, a migration down and up again), the next block starts past the serials in use.
 */
export async function raiseCounter(db: Executor, name: string, floor: number): Promise<void> {
  await db
    .insertInto('sandbox_counters')
    .values({ name, next: floor })
    .onConflict((oc) =>
      oc.column('name').doUpdateSet({ next: sql<number>`case when sandbox_counters.next < excluded.next then excluded.next else sandbox_counters.next end` }),
    )
    .execute();
}

/**
 * The highest lookup key in `[first, last]`, both keys of one token BIN's serials (fixed-width, so the
 * highest serial). Bounds of the same shape: no bound that a PostgreSQL collation other than "C"
 * could sort elsewhere (ICU sorts `#…:` before `#…0`).
 */
export async function maxTokenPanKey(db: Executor, first: string, last: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('sandbox_tsp_tokens')
    .select('token_pan_fingerprint')
    .where('token_pan_fingerprint', '>=', first)
    .where('token_pan_fingerprint', '<=', last)
    .orderBy('token_pan_fingerprint', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.token_pan_fingerprint;
}

/** The requestor key of a token: its card's PAR, then its identity (see `SandboxTspTokensTable.requestor_key`). */
export function sandboxRequestorKey(par: string, identity: string): string {
  return `${par}.${identity}`;
}

/**
 * Every token of a card. SQLite: the requestor keys starting `<par>.` (a byte-order range of the
 * unique index; the store has no PAR index, migration 0013); PostgreSQL: its PAR index.
 */
export async function listSandboxTokensByPar(engine: Engine, db: Executor, par: string): Promise<SandboxTspTokenRow[]> {
  let q = db.selectFrom('sandbox_tsp_tokens').selectAll().where('par', '=', par);
  // '/' is the character after '.': the range is exactly the keys that start with `<par>.`.
  if (engine === 'sqlite') q = q.where('requestor_key', '>=', `${par}.`).where('requestor_key', '<', `${par}/`);
  return q.orderBy('created_at').execute();
}

export async function updateSandboxToken(db: Executor, id: string, patch: Updateable<SandboxTspTokensTable>): Promise<void> {
  await db.updateTable('sandbox_tsp_tokens').set(patch).where('id', '=', id).execute();
}

const insertCryptogramQuery = compiledOnce((db: Executor, id: string, tokenId: string, merchantId: string, hash: string, expiresAt: number, createdAt: number) =>
  db.insertInto('sandbox_cryptograms').values({ id, token_id: tokenId, merchant_id: merchantId, cryptogram_hash: hash, expires_at: expiresAt, used_at: null, created_at: createdAt }),
);

/** A new cryptogram (unused). */
export async function insertSandboxCryptogram(engine: Engine, db: Executor, row: Omit<SandboxCryptogramRow, 'used_at'>): Promise<void> {
  await insertCryptogramQuery(engine, db, row.id, row.token_id, row.merchant_id, row.cryptogram_hash, row.expires_at, row.created_at);
}

const AUTHORIZING_COLUMNS = ['id', 'merchant_id', 'status', 'token_expiry', 'token_pan_fingerprint', 'pan_fingerprint', 'card_ct'] as const;
/** What checking a payment with a token reads of it. */
export type AuthorizingTokenRow = Pick<SandboxTspTokenRow, (typeof AUTHORIZING_COLUMNS)[number]>;

const cryptogramWithTokenQuery = compiledOnce((db: Executor, hash: string) =>
  db
    .selectFrom('sandbox_cryptograms as c')
    .innerJoin('sandbox_tsp_tokens as t', 't.id', 'c.token_id')
    .select(AUTHORIZING_COLUMNS.map((c) => `t.${c}` as const))
    .select(['c.id as cryptogram_id', 'c.expires_at as cryptogram_expires_at', 'c.used_at as cryptogram_used_at'])
    .where('c.cryptogram_hash', '=', hash),
);

/** A cryptogram (by its hash) with the token it was issued for, in one read. */
export async function findSandboxCryptogramWithToken(
  engine: Engine,
  db: Executor,
  hash: string,
): Promise<{ cryptogram: Pick<SandboxCryptogramRow, 'id' | 'token_id' | 'expires_at' | 'used_at'>; token: AuthorizingTokenRow } | undefined> {
  const row = (await cryptogramWithTokenQuery(engine, db, hash)).rows[0];
  // The token is the row itself (its three cryptogram_* columns ride along unread): no copy of it.
  return row && { cryptogram: { id: row.cryptogram_id, token_id: row.id, expires_at: row.cryptogram_expires_at, used_at: row.cryptogram_used_at }, token: row };
}

const useCryptogramQuery = compiledOnce((db: Executor, id: string, now: number) =>
  db.updateTable('sandbox_cryptograms').set({ used_at: now }).where('id', '=', id).where('used_at', 'is', null).where('expires_at', '>', now),
);

/** Marks a cryptogram used, once: false when it was already used (a replay) or has expired. */
export async function useSandboxCryptogram(engine: Engine, db: Executor, id: string, now: number): Promise<boolean> {
  const result = await useCryptogramQuery(engine, db, id, now);
  return Number(result.numAffectedRows ?? 0) > 0;
}
