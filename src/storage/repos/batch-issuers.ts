import { sql } from 'kysely';
import type { Db } from '../database.ts';
import type { BatchIssuersTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type BatchIssuerRow = BatchIssuersTable;

/** Creates issuers' rows (idempotent). */
export async function ensureIssuers(db: Executor, bins: string[], now: number): Promise<void> {
  if (bins.length === 0) return;
  await db
    .insertInto('batch_issuers')
    .values(bins.map((bin) => ({ bin, pending: 0, vclock: 0, rate: 0, milli_tokens: 0, refilled_at: now, paused_until: 0, throttled_at: 0 })))
    .onConflict((oc) => oc.column('bin').doNothing())
    .execute();
}

export async function findIssuers(db: Executor, bins: string[]): Promise<BatchIssuerRow[]> {
  if (bins.length === 0) return [];
  return db.selectFrom('batch_issuers').selectAll().where('bin', 'in', bins).execute();
}

export async function addPending(db: Executor, bin: string, delta: number): Promise<void> {
  await db.updateTable('batch_issuers').set((eb) => ({ pending: eb('pending', '+', delta) })).where('bin', '=', bin).execute();
}

/** Issuers with records waiting or in flight, with how many and their learned rate. */
export async function listBusyIssuers(db: Executor): Promise<Pick<BatchIssuerRow, 'bin' | 'pending' | 'rate'>[]> {
  return db.selectFrom('batch_issuers').select(['bin', 'pending', 'rate']).where('pending', '>', 0).execute();
}

/** Moves the issuer's fair-queue clock forward to `vtime` (never back). */
export async function advanceClock(db: Executor, bin: string, vtime: number): Promise<void> {
  await db
    .updateTable('batch_issuers')
    .set({ vclock: sql<number>`CASE WHEN vclock < ${vtime} THEN ${vtime} ELSE vclock END` })
    .where('bin', '=', bin)
    .execute();
}

/**
 * The pacing token bucket of one issuer, shared by every process: refills at `rate`/s up to `burst`
 * tokens, then grants up to `want`. Runs in one transaction with the row locked (PostgreSQL), so
 * processes never spend the same tokens. `rate` 0 means unpaced: everything asked is granted.
 */
export async function takeTokens(
  db: Db,
  bin: string,
  want: number,
  pace: (row: BatchIssuerRow, now: number) => { rate: number; burst: number },
  now: number,
  /** The highest fair-queue position the caller claimed since its last call: moves the clock in the same write. */
  claimedVtime = -1,
): Promise<{ granted: number; waitMs: number; rate: number }> {
  return db.kysely.transaction().execute(async (trx) => {
    let q = trx.selectFrom('batch_issuers').selectAll().where('bin', '=', bin);
    if (db.engine === 'postgres') q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) return { granted: 0, waitMs: 50, rate: 0 };
    if (claimedVtime > row.vclock) await trx.updateTable('batch_issuers').set({ vclock: claimedVtime }).where('bin', '=', bin).execute();
    if (row.paused_until > now) return { granted: 0, waitMs: row.paused_until - now, rate: row.rate };
    const { rate, burst } = pace(row, now);
    if (rate <= 0) return { granted: want, waitMs: 0, rate: row.rate };
    const elapsed = Math.max(0, now - row.refilled_at);
    const available = Math.min(burst * 1000, row.milli_tokens + elapsed * rate);
    // Grant in helpings of a whole burst when one is wanted: fewer round trips, and still no second over the pace.
    const need = Math.min(want, burst);
    if (available < need * 1000) return { granted: 0, waitMs: Math.max(1, Math.ceil((need * 1000 - available) / rate)), rate: row.rate };
    const granted = Math.min(want, Math.floor(available / 1000));
    await trx.updateTable('batch_issuers').set({ milli_tokens: Math.floor(available - granted * 1000), refilled_at: now }).where('bin', '=', bin).execute();
    return { granted, waitMs: 0, rate: row.rate };
  });
}

/** After a 429: pause the issuer for everyone until `pausedUntil`, empty its bucket, and keep the learned `rate`. */
export async function recordThrottle(db: Executor, bin: string, rate: number, pausedUntil: number, now: number): Promise<void> {
  await db
    .updateTable('batch_issuers')
    .set({ rate, milli_tokens: 0, refilled_at: pausedUntil, paused_until: pausedUntil, throttled_at: now })
    .where('bin', '=', bin)
    .execute();
}

/** Raises a learned rate (additive increase while no 429 comes back). */
/** Raises a learned rate (additive increase) unless the issuer throttled since `quietSince`. */
export async function raiseRate(db: Executor, bin: string, from: number, to: number, quietSince: number): Promise<void> {
  await db.updateTable('batch_issuers').set({ rate: to }).where('bin', '=', bin).where('rate', '=', from).where('throttled_at', '<', quietSince).execute();
}

export async function findIssuerRate(db: Executor, bin: string): Promise<number> {
  return (await db.selectFrom('batch_issuers').select('rate').where('bin', '=', bin).executeTakeFirst())?.rate ?? 0;
}
