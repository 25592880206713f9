import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../storage/database.ts';
import { runWithTrace, traceOf } from '../observability/trace-context.ts';
import { backoffMs } from '../domain/backoff.ts';
import { claimJobs, completeJob, failJob, rescheduleJob, type JobRow } from '../storage/repos/jobs.ts';

/**
 * What a task handler may ask for after succeeding: run again at a given time (recurring work), or
 * nothing more because it already settled its job (deleted or rescheduled it with `completeJob` /
 * `rescheduleJob`, as the worker would, in the transaction that recorded its outcome: one commit
 * instead of two).
 */
export type TaskResult = void | { rescheduleAt: number } | { settled: true };

/** A task fails by throwing; the queue persists the attempt and the error, then retries with backoff. */
export type TaskHandler = (payload: unknown, job: JobRow) => Promise<TaskResult>;

export interface WorkerOptions {
  /** How often to look for due jobs when idle. Default 250 ms. */
  pollMs?: number;
  /** Jobs run at once by this worker. Default 16. */
  concurrency?: number;
  /** A claimed job not finished by then is taken by another worker. Default 60 s. */
  lockMs?: number;
  /** First retry delay, doubled each attempt, with jitter. Default 1000 ms. */
  retryBaseMs?: number;
  /** Retry delay cap. Default one hour. */
  retryMaxMs?: number;
}

/** The loop that claims due jobs from the `jobs` table and runs their handlers. */
export class Worker {
  readonly id = `worker-${randomUUID().slice(0, 8)}`;
  readonly #db: Db;
  readonly #log: Logger;
  readonly #handlers: Map<string, TaskHandler>;
  readonly #opts: Required<WorkerOptions>;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nudged = false;
  #wakePending = false;
  /** Jobs this worker is running now (at most `concurrency`). */
  readonly #inFlight = new Set<Promise<void>>();
  /** Background loops that start and stop with this worker (e.g. the batch scheduler). */
  readonly #companions: { start(): void; stop(): Promise<void> }[] = [];
  /** When the loop last went round: readiness reads it. */
  lastTickAt = 0;

  constructor(db: Db, log: Logger, handlers: Map<string, TaskHandler>, opts: WorkerOptions = {}) {
    this.#db = db;
    this.#log = log;
    this.#handlers = handlers;
    this.#opts = {
      pollMs: opts.pollMs ?? 250,
      concurrency: opts.concurrency ?? 16,
      lockMs: opts.lockMs ?? 60_000,
      retryBaseMs: opts.retryBaseMs ?? 1000,
      retryMaxMs: opts.retryMaxMs ?? 3_600_000,
    };
  }

  /** Whether the loop has been started and not stopped (readiness reads it). */
  get running(): boolean {
    return this.#running;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
    for (const c of this.#companions) c.start();
  }

  /** Runs `companion` whenever this worker runs: started by `start()`, stopped by `stop()`. */
  attach(companion: { start(): void; stop(): Promise<void> }): void {
    this.#companions.push(companion);
    if (this.#running) companion.start();
  }

  /** Look for work now (called after a transaction that enqueued jobs commits). */
  nudge(): void {
    this.#nudged = true;
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await Promise.all(this.#companions.map((c) => c.stop()));
    await this.#loop;
  }

  /** Runs due jobs until none is left (tests and one-shot commands). */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.#tick();
      total += n;
      if (n === 0) return total;
    }
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let claimed = 0;
      try {
        claimed = await this.#fill();
      } catch (err) {
        this.#log.error({ err: describe(err) }, 'worker: claiming jobs failed');
      }
      if (!this.#running) break;
      // More may be due: claim again while slots are free — after letting the event loop turn (on
      // SQLite every query settles without I/O; see #wakeSoon).
      if (claimed > 0 && this.#inFlight.size < this.#opts.concurrency) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      if (this.#nudged && this.#inFlight.size < this.#opts.concurrency) {
        this.#nudged = false;
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      // Wait for a nudge, a finished job (a free slot) or the poll interval.
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, this.#opts.pollMs);
      });
      clearTimeout(this.#timer);
      this.#wake = undefined;
    }
    await Promise.all(this.#inFlight);
  }

  /**
   * Claims as many due jobs as there are free slots and starts them without waiting: each slot is
   * refilled as soon as its job ends, so one slow job (a notification receiver that hangs until the
   * timeout) holds one slot, not the whole worker.
   */
  async #fill(): Promise<number> {
    this.lastTickAt = Date.now();
    this.#nudged = false;
    const free = this.#opts.concurrency - this.#inFlight.size;
    if (free <= 0) return 0;
    const jobs = await claimJobs(this.#db, this.id, free, this.#opts.lockMs, Date.now());
    for (const job of jobs) {
      const running: Promise<void> = this.#runJob(job).finally(() => {
        this.#inFlight.delete(running);
        this.#wakeSoon();
      });
      this.#inFlight.add(running);
    }
    return jobs.length;
  }

  /**
   * Wakes the loop for a freed slot — in a later turn of the event loop, never in the same run of
   * microtasks. On SQLite a job that needs no I/O (a deferred delivery) settles entirely in
   * microtasks; waking the loop there claimed its replacement there too, and so on: the loop never
   * returned to the event loop, and the server answered nothing (not even /health, not even the
   * attempts in flight whose answers would have ended the deferrals) for tens of seconds.
   */
  #wakeSoon(): void {
    if (this.#wakePending) return;
    this.#wakePending = true;
    setImmediate(() => {
      this.#wakePending = false;
      this.#wake?.();
    });
  }

  async #tick(): Promise<number> {
    this.lastTickAt = Date.now();
    this.#nudged = false;
    const jobs = await claimJobs(this.#db, this.id, this.#opts.concurrency, this.#opts.lockMs, Date.now());
    await Promise.all(jobs.map((job) => this.#runJob(job)));
    return jobs.length;
  }

  /** Runs a job inside the trace of the request that caused it, so its log lines and jobs carry its ids. */
  async #runJob(job: JobRow): Promise<void> {
    let trace;
    try {
      trace = traceOf(JSON.parse(job.payload));
    } catch {
      trace = undefined;
    }
    return trace ? runWithTrace(trace, () => this.#runTraced(job)) : this.#runTraced(job);
  }

  async #runTraced(job: JobRow): Promise<void> {
    const handler = this.#handlers.get(job.task);
    const db = this.#db.kysely;
    try {
      if (!handler) throw new Error(`no handler for task ${job.task}`);
      const result = await handler(JSON.parse(job.payload), job);
      if (result && 'settled' in result) return;
      if (result && 'rescheduleAt' in result) await rescheduleJob(db, job.id, this.id, result.rescheduleAt, Date.now());
      else await completeJob(db, job.id, this.id);
    } catch (err) {
      const message = describe(err);
      const now = Date.now();
      const retryAt = now + backoffMs(job.attempts, this.#opts.retryBaseMs, this.#opts.retryMaxMs);
      try {
        const outcome = await failJob(db, job, this.id, message, retryAt, now);
        this.#log.warn({ job: job.id, task: job.task, attempt: job.attempts, outcome, err: message }, 'job failed');
      } catch (saveErr) {
        // The lock expires and another pass retries it: nothing is lost.
        this.#log.error({ job: job.id, err: describe(saveErr) }, 'job failure could not be recorded');
      }
    }
  }
}

/** An error as one safe line: handlers never put card data in their messages. */
function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}
