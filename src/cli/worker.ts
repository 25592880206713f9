import { buildDeps } from '../deps.ts';

/**
 * `tessera worker`: a worker-only process (jobs and the batch scheduler, no HTTP). Any number of
 * them share one PostgreSQL with the API processes: they claim work with FOR UPDATE SKIP LOCKED
 * and pace each issuer through the buckets kept in the database. The embedded SQLite store runs its
 * worker inside `tessera serve`.
 */
export async function runWorker(): Promise<void> {
  const deps = await buildDeps();
  if (deps.db.engine !== 'postgres') {
    await deps.close();
    throw new Error('tessera worker needs DATABASE_URL (PostgreSQL); with the embedded SQLite store, `tessera serve` runs the worker.');
  }
  deps.worker.start();
  deps.log.info({ worker: deps.worker.id, scheduler: deps.batchScheduler.id }, 'tessera worker is running');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  deps.log.info('worker shutting down');
  await deps.close();
}
