import { sql } from 'kysely';
import type { Executor } from './executor.ts';

/**
 * Takes one request from a sandbox issuer's token bucket (`cap` per second, bursts up to `cap`),
 * in one statement so any number of processes share the cap. False: over the cap (a 429).
 */
export async function takeSandboxIssuerToken(db: Executor, bin: string, cap: number, now: number): Promise<boolean> {
  const refilled = sql<number>`LEAST(${cap}::double precision, sandbox_issuer_buckets.tokens + GREATEST(0, ${now} - sandbox_issuer_buckets.at) * ${cap}::double precision / 1000.0)`;
  const row = await db
    .insertInto('sandbox_issuer_buckets')
    .values({ bin, tokens: cap - 1, at: now })
    .onConflict((oc) =>
      oc
        .column('bin')
        .doUpdateSet({ tokens: sql<number>`${refilled} - 1`, at: sql<number>`GREATEST(sandbox_issuer_buckets.at, ${now})` })
        .where(sql<boolean>`${refilled} >= 1`),
    )
    .returning('tokens')
    .executeTakeFirst();
  return row !== undefined;
}

/** Counts one request in its one-second window. */
export async function countSandboxIssuerRequest(db: Executor, bin: string, second: number, accepted: boolean): Promise<void> {
  await db
    .insertInto('sandbox_issuer_seconds')
    .values({ bin, second, accepted: accepted ? 1 : 0, throttled: accepted ? 0 : 1 })
    .onConflict((oc) =>
      oc.columns(['bin', 'second']).doUpdateSet((eb) => ({
        accepted: eb('sandbox_issuer_seconds.accepted', '+', accepted ? 1 : 0),
        throttled: eb('sandbox_issuer_seconds.throttled', '+', accepted ? 0 : 1),
      })),
    )
    .execute();
}

export interface IssuerStatsRow {
  bin: string;
  accepted: number;
  throttled: number;
  maxPerSecond: number;
}

export async function sandboxIssuerStats(db: Executor): Promise<IssuerStatsRow[]> {
  const rows = await db
    .selectFrom('sandbox_issuer_seconds')
    .select((eb) => [
      'bin',
      eb.fn.sum<number>('accepted').as('accepted'),
      eb.fn.sum<number>('throttled').as('throttled'),
      eb.fn.max<number>('accepted').as('maxPerSecond'),
    ])
    .groupBy('bin')
    .orderBy('bin')
    .execute();
  return rows.map((r) => ({ bin: r.bin, accepted: Number(r.accepted), throttled: Number(r.throttled), maxPerSecond: Number(r.maxPerSecond) }));
}
