import type { Updateable } from 'kysely';
import type { NetworkTokenRequestsTable, NetworkTokensTable, NetworkTransactionsTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledInsert } from './compiled.ts';
import type { Executor } from './executor.ts';

export type NetworkTokenRow = NetworkTokensTable;
export type NetworkTokenRequestRow = NetworkTokenRequestsTable;
export type NetworkTransactionRow = NetworkTransactionsTable;

// Once per token (every batch record): built once (see `compiledInsert`).
const insertTokenQuery = compiledInsert<NetworkTokenRow>(
  {
    id: 1, merchant_id: 1, network: 1, status: 1, source: 1, card_ct: 1, card_bin: 1, card_last4: 1, card_expiry: 1, token_last4: 1, token_expiry: 1,
    par: 1, card_art_ids: 1, issuer: 1, created_at: 1, updated_at: 1, card_fingerprint: 1,
  },
  (db, row) => db.insertInto('network_tokens').values(row).onConflict((oc) => oc.column('id').doNothing()),
);

/** Inserts a token unless its id exists (the TSP handed back a token it already issued). */
export async function insertNetworkToken(engine: Engine, db: Executor, row: NetworkTokenRow): Promise<boolean> {
  const result = await insertTokenQuery(engine, db, row);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/**
 * Inserts tokens (a batch's); returns the ids inserted (an existing id is left as it is).
 * PostgreSQL: one statement (one round trip). SQLite: one prepared INSERT per row (no round trip;
 * a multi-row statement inside a transaction would copy each page it changes to a statement
 * journal first), all in one hand-over of the connection.
 */
export async function insertNetworkTokens(engine: Engine, db: Executor, rows: NetworkTokenRow[]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  if (engine === 'sqlite') {
    const results = await insertTokenQuery.each(engine, db, rows);
    return new Set(rows.flatMap((row, i) => (Number(results[i]!.numAffectedRows ?? 0) > 0 ? [row.id] : [])));
  }
  const out = await db.insertInto('network_tokens').values(rows).onConflict((oc) => oc.column('id').doNothing()).returning('id').execute();
  return new Set(out.map((r) => r.id));
}

/** A merchant's own token; another merchant's id finds nothing. */
export async function findNetworkToken(db: Executor, merchantId: string, id: string): Promise<NetworkTokenRow | undefined> {
  return db.selectFrom('network_tokens').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
}

export async function updateNetworkToken(db: Executor, id: string, patch: Updateable<NetworkTokensTable>): Promise<void> {
  await db.updateTable('network_tokens').set(patch).where('id', '=', id).execute();
}

export async function insertTokenRequest(db: Executor, row: NetworkTokenRequestRow): Promise<void> {
  await db.insertInto('network_token_requests').values(row).execute();
}

export async function findTokenRequest(db: Executor, merchantId: string, id: string): Promise<NetworkTokenRequestRow | undefined> {
  return db.selectFrom('network_token_requests').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
}

/** The async request a merchant made under an `Idempotency-Key`, if any. */
export async function findTokenRequestByIdempotencyKey(db: Executor, merchantId: string, key: string): Promise<NetworkTokenRequestRow | undefined> {
  return db.selectFrom('network_token_requests').selectAll().where('merchant_id', '=', merchantId).where('idempotency_key', '=', key).executeTakeFirst();
}

export async function findTokenRequestById(db: Executor, id: string): Promise<NetworkTokenRequestRow | undefined> {
  return db.selectFrom('network_token_requests').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Completes a pending request once: returns false when another worker already did. Erases the card. */
export async function completeTokenRequest(
  db: Executor,
  id: string,
  patch: { status: string; token_id: string | null; error_code: string | null; error_message: string | null; completed_at: number },
): Promise<boolean> {
  const result = await db
    .updateTable('network_token_requests')
    .set({ ...patch, payload_ct: null })
    .where('id', '=', id)
    .where('status', '=', 'PENDING')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function insertNetworkTransaction(db: Executor, row: NetworkTransactionRow): Promise<void> {
  await db.insertInto('network_transactions').values(row).execute();
}
