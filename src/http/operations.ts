import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Type } from 'typebox';
import type { Deps } from '../deps.ts';
import { migrationsApplied } from '../storage/database.ts';
import { pingDatabase } from '../storage/repos/operations.ts';
import { makeTrace, runWithTrace } from '../observability/trace-context.ts';

/** The worker loop goes round at least every poll interval, or after its longest job; older than this it is stalled. 30 s. */
export const READY_WORKER_STALE_MS = 30_000;
/** A database that has not answered `SELECT 1` by then is not reachable. 2 s. */
export const READY_DB_TIMEOUT_MS = 2_000;

const CORRELATION_ID = /^[\x21-\x7e]{1,36}$/;

/**
 * Operations hooks, before any route: every answered request is counted per route pattern (never
 * the raw URL, which may carry a token) and status; the handler runs inside the request's trace, so
 * jobs it enqueues carry its request id and correlation id, and so do log lines they write.
 */
export function installOperations(app: FastifyInstance, deps: Deps): void {
  app.addHook('preHandler', (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const header = request.headers['x-correlation-id'];
    const correlationId = request.correlationId ?? (typeof header === 'string' && CORRELATION_ID.test(header) ? header : undefined);
    runWithTrace(makeTrace(request.id, correlationId), done);
  });
  app.addHook('onResponse', async (request, reply) => {
    deps.metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
}

const ReadyChecks = Type.Object({
  database: Type.String({ description: '`ok`, or why not.' }),
  migrations: Type.String({ description: '`ok`, or why not.' }),
  worker: Type.String({ description: '`ok`, or why not.' }),
});

/** `GET /metrics` (Prometheus text format) and `GET /ready` (readiness). `GET /health` stays liveness. */
export function operationsRoutes(deps: Deps) {
  return async (app: FastifyInstance) => {
    app.get(
      '/metrics',
      {
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics',
          description: 'Request rate and latency per route pattern and status, tokens created by kind, validation holds by outcome, notification attempts, job queue depth and age per task, sandbox issuer calls and throttles per BIN, process metrics.',
          response: { 200: { description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } } },
        },
      },
      async (_request, reply) => {
        const body = await deps.metrics.registry.metrics();
        return reply.type(deps.metrics.registry.contentType).send(body);
      },
    );

    app.get(
      '/ready',
      {
        schema: {
          tags: ['operations'],
          summary: 'Ready to serve: database reachable, migrations applied, worker loop alive',
          response: {
            200: Type.Object({ status: Type.Literal('ready'), checks: ReadyChecks }),
            503: Type.Object({ status: Type.Literal('not_ready'), checks: ReadyChecks }),
          },
        },
      },
      async (_request, reply) => {
        const checks = await readiness(deps);
        const ready = isReady(checks);
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
      },
    );
  };
}

/** The worker check of an API-only process (`TESSERA_WORKER=off`): ready, its jobs run in `tessera worker` processes. */
export const WORKER_OFF = 'off (TESSERA_WORKER=off: jobs run in tessera worker processes)';

/** Ready when every check is `ok` (an API-only process's worker check is `WORKER_OFF`). */
export function isReady(checks: { database: string; migrations: string; worker: string }): boolean {
  return checks.database === 'ok' && checks.migrations === 'ok' && (checks.worker === 'ok' || checks.worker === WORKER_OFF);
}

/** Each check is `ok` or a short reason (never an error's text, which could name the database URL). */
export async function readiness(deps: Deps, now = Date.now()): Promise<{ database: string; migrations: string; worker: string }> {
  let database = 'ok';
  let migrations = 'ok';
  try {
    await withTimeout(pingDatabase(deps.db.kysely), READY_DB_TIMEOUT_MS);
  } catch (err) {
    database = err instanceof TimeoutError ? `not answering within ${READY_DB_TIMEOUT_MS} ms` : 'not reachable';
  }
  if (database !== 'ok') migrations = 'unknown (database not reachable)';
  else {
    try {
      if (!(await withTimeout(migrationsApplied(deps.db), READY_DB_TIMEOUT_MS))) migrations = 'pending migrations (run `tessera migrate`)';
    } catch {
      migrations = 'could not be read';
    }
  }
  let worker = 'ok';
  const { worker: w } = deps;
  // `tessera worker` runs its loop whatever TESSERA_WORKER says: only a process without one is "off".
  if (!w.running) worker = deps.config.worker === 'off' ? WORKER_OFF : 'not running';
  else if (now - w.lastTickAt > READY_WORKER_STALE_MS) worker = `stalled (last loop ${Math.round((now - w.lastTickAt) / 1000)} s ago)`;
  return { database, migrations, worker };
}

class TimeoutError extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError()), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
