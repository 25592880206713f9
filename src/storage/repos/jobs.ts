import { randomUUID } from 'node:crypto';
import type { Db } from '../database.ts';
import type { SelectQueryBuilder } from 'kysely';
import type { Database, JobsTable } from '../schema.ts';
import type { Executor } from './executor.ts';
import { withTrace } from '../../observability/trace-context.ts';

export type JobRow = JobsTable;

export interface NewJob {
  task: string;
  payload: unknown;
  /** When it may run. Default now. */
  runAt?: number;
  /** Attempts before the job is dead. Default 15. */
  maxAttempts?: number;
  /** At most one job with this key exists at a time; enqueueing another is a no-op. */
  uniqueKey?: string;
}

/**
 * Adds a job in the caller's transaction, so the job exists if and only if the change commits. The
 * payload carries the current trace (the request that caused the job) under `_trace`.
 */
export async function enqueueJob(db: Executor, job: NewJob, now: number): Promise<void> {
  await db
    .insertInto('jobs')
    .values({
      id: randomUUID(),
      task: job.task,
      payload: JSON.stringify(withTrace(job.payload ?? null)),
      status: 'pending',
      run_at: job.runAt ?? now,
      attempts: 0,
      max_attempts: job.maxAttempts ?? 15,
      last_error: null,
      locked_by: null,
      locked_until: null,
      unique_key: job.uniqueKey ?? null,
      created_at: now,
      updated_at: now,
    })
    .onConflict((oc) => oc.column('unique_key').doNothing())
    .execute();
}

/**
 * Claims up to `limit` due jobs for `workerId`: running ones whose lock expired (their worker died)
 * first, then pending ones whose time has come, oldest first. On PostgreSQL `FOR UPDATE SKIP LOCKED`
 * lets any number of workers claim concurrently without blocking or double-claiming.
 *
 * Two statements, each an index range read of `jobs_ready (status, run_at)` that stops at `limit`:
 * one query with `(pending AND due) OR (running AND expired) ORDER BY run_at` gathered every due job
 * and sorted them all on each claim (SQLite's multi-index OR, then a temporary B-tree) — with
 * 20,000 notifications queued, a quarter of the worker's time went into claiming.
 */
export async function claimJobs(
  db: Db,
  workerId: string,
  limit: number,
  lockMs: number,
  now: number,
): Promise<JobRow[]> {
  const k = db.kysely;
  const claim = (due: SelectQueryBuilder<Database, 'jobs', { id: string }>) =>
    k
      .updateTable('jobs')
      .set((eb) => ({
        status: 'running',
        locked_by: workerId,
        locked_until: now + lockMs,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', 'in', db.engine === 'postgres' ? due.forUpdate().skipLocked() : due)
      .returningAll()
      .execute();
  const expired = await claim(k.selectFrom('jobs').select('id').where('status', '=', 'running').where('locked_until', '<', now).limit(limit));
  if (expired.length >= limit) return expired;
  const pending = await claim(
    k.selectFrom('jobs').select('id').where('status', '=', 'pending').where('run_at', '<=', now).orderBy('run_at').limit(limit - expired.length),
  );
  return expired.length === 0 ? pending : [...expired, ...pending];
}

export async function completeJob(db: Executor, id: string, workerId: string): Promise<void> {
  await db.deleteFrom('jobs').where('id', '=', id).where('locked_by', '=', workerId).execute();
}

export async function rescheduleJob(db: Executor, id: string, workerId: string, runAt: number, now: number): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ status: 'pending', run_at: runAt, attempts: 0, locked_by: null, locked_until: null, last_error: null, updated_at: now })
    .where('id', '=', id)
    .where('locked_by', '=', workerId)
    .execute();
}

/** Records a failed attempt: back to pending at `retryAt`, or dead when attempts are spent. */
export async function failJob(
  db: Executor,
  job: JobRow,
  workerId: string,
  error: string,
  retryAt: number,
  now: number,
): Promise<'retry' | 'dead'> {
  const dead = job.attempts >= job.max_attempts;
  await db
    .updateTable('jobs')
    .set({
      status: dead ? 'dead' : 'pending',
      run_at: dead ? job.run_at : retryAt,
      last_error: error.slice(0, 500),
      locked_by: null,
      locked_until: null,
      updated_at: now,
    })
    .where('id', '=', job.id)
    .where('locked_by', '=', workerId)
    .execute();
  return dead ? 'dead' : 'retry';
}

export async function countJobs(db: Executor, task?: string): Promise<Record<string, number>> {
  let q = db.selectFrom('jobs').select(['status', (eb) => eb.fn.countAll<number>().as('n')]).groupBy('status');
  if (task) q = q.where('task', '=', task);
  const rows = await q.execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

export async function deleteJobByKey(db: Executor, uniqueKey: string): Promise<void> {
  await db.deleteFrom('jobs').where('unique_key', '=', uniqueKey).execute();
}

/** Brings a not-yet-running keyed job forward (or back) to `runAt`. */
export async function rescheduleJobByKey(db: Executor, uniqueKey: string, runAt: number): Promise<void> {
  await db
    .updateTable('jobs')
    .set({ run_at: runAt, updated_at: runAt })
    .where('unique_key', '=', uniqueKey)
    .where('status', '=', 'pending')
    .execute();
}

/**
 * Claims the one job with `uniqueKey` if it is due and nobody holds it (pending, or running with a
 * lapsed lock): lets a CLI command work on its own job beside (or without) the worker processes,
 * the lock keeping them from running it twice at once.
 */
export async function claimJobByKey(
  db: Executor,
  uniqueKey: string,
  workerId: string,
  lockMs: number,
  now: number,
  /** Only a job that has been due (and unclaimed) this long: workers get the first turn. Default 0. */
  idleMs = 0,
): Promise<JobRow | undefined> {
  return db
    .updateTable('jobs')
    .set((eb) => ({ status: 'running', locked_by: workerId, locked_until: now + lockMs, attempts: eb('attempts', '+', 1), updated_at: now }))
    .where('unique_key', '=', uniqueKey)
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'pending'), eb('run_at', '<=', now - idleMs)]),
        eb.and([eb('status', '=', 'running'), eb('locked_until', '<', now)]),
      ]),
    )
    .returningAll()
    .executeTakeFirst();
}

/** Keeps holding a claimed job (a long-running holder renews its lock). */
export async function extendJobLock(db: Executor, id: string, workerId: string, lockedUntil: number): Promise<boolean> {
  const r = await db.updateTable('jobs').set({ locked_until: lockedUntil }).where('id', '=', id).where('locked_by', '=', workerId).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
