import { sql, type Kysely } from 'kysely';
import type { Database } from '../schema.ts';
import type { Executor } from './executor.ts';

/**
 * Takes one request from the issuer's bucket and counts it in its second, in one statement that
 * does not wait for the disk (`synchronous_commit` off for its own transaction): these are a
 * simulator's hot rows, and holding their locks through an fsync would cap the sandbox far below
 * the rates it simulates. PostgreSQL only.
 */
export async function meterSandboxIssuerRequest(db: Kysely<Database>, bin: string, cap: number, now: number): Promise<boolean> {
  const second = Math.floor(now / 1000);
  const take =
    cap > 0
      ? sql`INSERT INTO sandbox_issuer_buckets AS b (bin, tokens, at) VALUES (${bin}, ${cap - 1}, ${now})
          ON CONFLICT (bin) DO UPDATE SET
            tokens = LEAST(${cap}::double precision, b.tokens + GREATEST(0, ${now} - b.at) * ${cap}::double precision / 1000.0) - 1,
            at = GREATEST(b.at, ${now})
          WHERE LEAST(${cap}::double precision, b.tokens + GREATEST(0, ${now} - b.at) * ${cap}::double precision / 1000.0) >= 1
          RETURNING 1 AS ok`
      : sql`SELECT 1 AS ok`;
  const { rows } = await sql<{ ok: number }>`
    WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true)),
    took AS (${take}),
    counted AS (
      INSERT INTO sandbox_issuer_seconds AS s (bin, second, accepted, throttled)
      SELECT ${bin}, ${second}, n, 1 - n FROM (SELECT count(*)::int AS n FROM took) t
      ON CONFLICT (bin, second) DO UPDATE SET accepted = s.accepted + EXCLUDED.accepted, throttled = s.throttled + EXCLUDED.throttled
    )
    SELECT (SELECT count(*)::int FROM took) AS ok, (SELECT count(*) FROM cfg) AS cfg`.execute(db);
  return Number(rows[0]?.ok ?? 0) > 0;
}

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
