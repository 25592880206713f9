import { sql } from 'kysely';
import type { Executor } from './executor.ts';

/** The database answers a trivial query (readiness). */
export async function pingDatabase(db: Executor): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/** Per task: pending + running jobs, dead jobs, and the earliest `run_at` among due pending jobs. */
export async function jobQueueStats(db: Executor, now: number): Promise<{ task: string; depth: number; dead: number; oldestDueAt: number | null }[]> {
  const rows = await db
    .selectFrom('jobs')
    .select((eb) => [
      'task',
      eb.fn.sum<number>(eb.case().when('status', 'in', ['pending', 'running']).then(1).else(0).end()).as('depth'),
      eb.fn.sum<number>(eb.case().when('status', '=', 'dead').then(1).else(0).end()).as('dead'),
      eb.fn.min<number | null>(eb.case().when(eb.and([eb('status', '=', 'pending'), eb('run_at', '<=', now)])).then(eb.ref('run_at')).end()).as('oldest'),
    ])
    .groupBy('task')
    .execute();
  return rows.map((r) => ({ task: r.task, depth: Number(r.depth ?? 0), dead: Number(r.dead ?? 0), oldestDueAt: r.oldest === null ? null : Number(r.oldest) }));
}
