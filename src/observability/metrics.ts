import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../storage/database.ts';
import { jobQueueStats } from '../storage/repos/operations.ts';

/**
 * Tessera's Prometheus metrics, on a registry of their own (never prom-client's global one, so two
 * instances in one process — tests — do not share counters). Labels are bounded sets: route
 * patterns (never the raw URL), status codes, token kinds, outcomes, attempt numbers, task names and
 * issuer BINs (six digits: an issuer, not a card). No card data or secret ever becomes a label.
 */

/** Kinds of token counted by `tessera_tokens_created_total`. */
export type TokenKind = 'temporary' | 'permanent' | 'network';

/** Outcomes of a validation hold: placed (`held`) or `declined`, then `released` or `failed` in the background. */
export type HoldOutcome = 'held' | 'declined' | 'released' | 'failed';

/** What services report; every method is cheap and synchronous. */
export interface ServiceMetrics {
  /** `count` tokens of `kind` created (default one). */
  tokenCreated(kind: TokenKind, count?: number): void;
  validationHold(outcome: HoldOutcome): void;
  /** One notification attempt (1 = first) and what came of it. */
  notificationAttempt(outcome: 'delivered' | 'retry' | 'dead', attempt: number): void;
  /** One call to a simulated issuer (BIN) through the sandbox TSP; `admitted` false = throttled (429). */
  issuerCall(bin: string, admitted: boolean): void;
}

/** The jobs table per task, read on each scrape. */
export interface JobQueueStats {
  task: string;
  /** Pending and running jobs. */
  depth: number;
  /** Dead jobs (attempts spent). */
  dead: number;
  /** Seconds the oldest due pending job has waited past its `run_at`; 0 when none is due. */
  oldestAgeS: number;
}

export interface MetricsOptions {
  /** Reads the job queue on scrape. */
  jobQueue: () => Promise<JobQueueStats[]>;
  /** Adds prom-client's process metrics (CPU, memory, event loop, GC). Default true. */
  processMetrics?: boolean;
}

/** Latency buckets in seconds: 1 ms to 10 s (sandbox latency reaches 3 s). */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const BIN = /^\d{6}$/;

export function createMetrics(options: MetricsOptions) {
  const registry = new Registry();
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'tessera_' });

  const httpRequests = new Counter({
    name: 'tessera_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'tessera_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'tessera_tokens_created_total',
    help: 'Tokens created, by kind (temporary, permanent, network).',
    labelNames: ['kind'] as const,
    registers: [registry],
  });
  const holds = new Counter({
    name: 'tessera_validation_holds_total',
    help: 'Validation holds by outcome: held or declined when placed; released or failed when settled.',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const notifications = new Counter({
    name: 'tessera_notification_attempts_total',
    help: 'Notification delivery attempts, by outcome (delivered, retry, dead) and attempt number.',
    labelNames: ['outcome', 'attempt'] as const,
    registers: [registry],
  });
  const issuerCalls = new Counter({
    name: 'tessera_sandbox_issuer_calls_total',
    help: 'Calls to a simulated issuer through the sandbox TSP, by issuer BIN (throttled ones included).',
    labelNames: ['bin'] as const,
    registers: [registry],
  });
  const issuerThrottles = new Counter({
    name: 'tessera_sandbox_issuer_throttles_total',
    help: 'Calls a simulated issuer answered 429 (over its rate cap), by issuer BIN.',
    labelNames: ['bin'] as const,
    registers: [registry],
  });

  // Queue gauges are read from the jobs table when Prometheus scrapes, so they hold across processes.
  // A scrape collects every metric at once, in registration order: the depth gauge starts the one
  // query and the two after it await the same answer.
  let queue: Promise<JobQueueStats[]> = Promise.resolve([]);
  const queueGauge = (name: string, help: string, value: (s: JobQueueStats) => number, reads: boolean) =>
    new Gauge({
      name,
      help,
      labelNames: ['task'] as const,
      registers: [registry],
      async collect() {
        if (reads) queue = options.jobQueue();
        const stats = await queue;
        this.reset();
        for (const s of stats) this.set({ task: s.task }, value(s));
      },
    });
  queueGauge('tessera_job_queue_depth', 'Jobs pending or running, by task.', (s) => s.depth, true);
  queueGauge('tessera_job_queue_dead', 'Dead jobs (attempts spent), by task.', (s) => s.dead, false);
  queueGauge('tessera_job_queue_oldest_age_seconds', 'How long the oldest due pending job has waited past its run time, by task (0 when none is waiting).', (s) => s.oldestAgeS, false);

  const service: ServiceMetrics = {
    tokenCreated: (kind, count = 1) => tokens.inc({ kind }, count),
    validationHold: (outcome) => holds.inc({ outcome }),
    notificationAttempt: (outcome, attempt) => notifications.inc({ outcome, attempt: String(attempt) }),
    issuerCall(bin, admitted) {
      // Defence in depth: only ever a six-digit BIN, whatever a caller passes.
      const label = BIN.test(bin) ? bin : 'other';
      issuerCalls.inc({ bin: label });
      if (!admitted) issuerThrottles.inc({ bin: label });
    },
  };

  return {
    registry,
    service,
    /** Records one answered HTTP request; `route` is the matched pattern or `unmatched`. */
    httpRequest(method: string, route: string, status: number, seconds: number): void {
      const labels = { method, route, status: String(status) };
      httpRequests.inc(labels);
      httpDuration.observe(labels, seconds);
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Reads the job queue of `db` for the queue gauges. */
export function jobQueueReader(db: Db, now: () => number = Date.now): () => Promise<JobQueueStats[]> {
  return async () => {
    const at = now();
    return (await jobQueueStats(db.kysely, at)).map((s) => ({
      task: s.task,
      depth: s.depth,
      dead: s.dead,
      oldestAgeS: s.oldestDueAt === null ? 0 : Math.max(0, at - s.oldestDueAt) / 1000,
    }));
  };
}
