import { buildDeps } from '../deps.ts';
import { buildApp } from '../http/app.ts';

/** Serves the API with the in-process worker until SIGINT/SIGTERM, then drains and closes. */
export async function serve(): Promise<void> {
  const deps = await buildDeps();
  const app = await buildApp(deps);
  await deps.services.tokens.schedulePurge();
  await deps.services.idempotency.schedulePurge();
  await deps.services.orderPayments.scheduleReconcile();
  await deps.scheduleKeyJobs();
  // API-only processes (TESSERA_WORKER=off) leave jobs and batches to `tessera worker` processes.
  if (deps.config.worker === 'on') deps.worker.start();
  await app.listen({ port: deps.config.port, host: deps.config.host });
  deps.log.info({ engine: deps.db.engine, masterKey: deps.vault.masterKeyId }, 'tessera is serving');
  if (deps.config.worker === 'off') deps.log.info('TESSERA_WORKER=off: this process runs no jobs; run tessera worker beside it');

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  deps.log.info('shutting down');
  await app.close();
  await deps.close();
  await new Promise<void>((resolve) => deps.log.flush(() => resolve()));
}
