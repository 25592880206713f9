import { createServer, type Server } from 'node:http';
import { once } from 'node:events';
import { buildDeps, type Deps } from '../deps.ts';
import { isReady, readiness } from '../http/operations.ts';

/**
 * `tessera worker`: a worker-only process (jobs and the batch scheduler, no HTTP API). Any number of
 * them share one PostgreSQL with the API processes: they claim work with FOR UPDATE SKIP LOCKED
 * and pace each issuer through the buckets kept in the database. The embedded SQLite store runs its
 * worker inside `tessera serve`. With `TESSERA_METRICS_PORT` it also answers `/metrics`, `/health`
 * and `/ready` on HOST:port, so Prometheus sees the notifications and jobs this process runs.
 */
export async function runWorker(): Promise<void> {
  const deps = await buildDeps();
  if (deps.db.engine !== 'postgres') {
    await deps.close();
    throw new Error('tessera worker needs DATABASE_URL (PostgreSQL); with the embedded SQLite store, `tessera serve` runs the worker.');
  }
  deps.worker.start();
  const server = deps.config.metricsPort === undefined ? undefined : await metricsListener(deps, deps.config.host, deps.config.metricsPort);
  deps.log.info({ worker: deps.worker.id, scheduler: deps.batchScheduler.id, metricsPort: deps.config.metricsPort }, 'tessera worker is running');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  deps.log.info('worker shutting down');
  if (server) {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
  await deps.close();
  await new Promise<void>((resolve) => deps.log.flush(() => resolve()));
}

/** A tiny HTTP listener (no Fastify: three fixed routes, nothing to parse) for the worker's operations endpoints. */
export async function metricsListener(deps: Deps, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'application/json', JSON.stringify({ code: 'method_not_allowed' }));
    if (path === '/health') return send(200, 'application/json', JSON.stringify({ status: 'ok' }));
    if (path === '/metrics') {
      deps.metrics.registry.metrics().then(
        (body) => send(200, deps.metrics.registry.contentType, body),
        () => send(500, 'application/json', JSON.stringify({ code: 'internal_error' })),
      );
      return;
    }
    if (path === '/ready') {
      readiness(deps).then(
        (checks) => {
          const ready = isReady(checks);
          send(ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ready' : 'not_ready', checks }));
        },
        () => send(503, 'application/json', JSON.stringify({ status: 'not_ready' })),
      );
      return;
    }
    send(404, 'application/json', JSON.stringify({ code: 'route_not_found' }));
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
