import type { IdempotencyKeysTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type IdempotencyKeyRow = IdempotencyKeysTable;

/** Claims a key for a request; false when the key exists (another request holds or answered it). */
export async function claimIdempotencyKey(db: Executor, row: IdempotencyKeyRow): Promise<boolean> {
  const r = await db
    .insertInto('idempotency_keys')
    .values(row)
    .onConflict((oc) => oc.columns(['merchant_id', 'key']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findIdempotencyKey(db: Executor, merchantId: string, key: string): Promise<IdempotencyKeyRow | undefined> {
  return db.selectFrom('idempotency_keys').selectAll().where('merchant_id', '=', merchantId).where('key', '=', key).executeTakeFirst();
}

/** Removes a key only if it has expired (so a concurrent fresh claim is never removed). */
export async function deleteExpiredKey(db: Executor, merchantId: string, key: string, now: number): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('merchant_id', '=', merchantId).where('key', '=', key).where('expires_at', '<=', now).execute();
}

/** Takes over an `in_progress` key whose request died (its lock lapsed); true for exactly one taker. */
export async function takeOverKey(db: Executor, merchantId: string, key: string, requestHash: string, lockedUntil: number, now: number): Promise<boolean> {
  const r = await db
    .updateTable('idempotency_keys')
    .set({ locked_until: lockedUntil })
    .where('merchant_id', '=', merchantId)
    .where('key', '=', key)
    .where('request_hash', '=', requestHash)
    .where('status', '=', 'in_progress')
    .where('locked_until', '<', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function completeIdempotencyKey(
  db: Executor,
  merchantId: string,
  key: string,
  answer: { response_status: number; response_type: string | null; response_ct: string },
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ ...answer, status: 'done' })
    .where('merchant_id', '=', merchantId)
    .where('key', '=', key)
    .where('status', '=', 'in_progress')
    .execute();
}

/** Lets a key go (the request failed on our side: a retry may do the work). */
export async function releaseIdempotencyKey(db: Executor, merchantId: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('merchant_id', '=', merchantId).where('key', '=', key).where('status', '=', 'in_progress').execute();
}

export async function purgeIdempotencyKeys(db: Executor, now: number): Promise<number> {
  const r = await db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}
