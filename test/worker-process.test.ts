// API-only `tessera serve` (TESSERA_WORKER=off) and the `tessera worker` metrics listener, as real
// processes on PostgreSQL (worker processes need it: SQLite is one process by design).
import { describe, it } from 'node:test';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ENGINES, eventually } from './support/harness.ts';
import { createMerchantCli, encryptOver, http, processEnv } from './support/processes.ts';
import { freePort } from '../scripts/cluster.ts';

describe('API-only and worker processes on postgres', { skip: !ENGINES.includes('postgres') && 'PostgreSQL not in TESSERA_TEST_ENGINES' }, () => {
  it('leaves jobs to tessera worker when TESSERA_WORKER=off, stays ready, and the worker reports on its metrics port', async () => {
    const metricsPort = await freePort();
    const p = await processEnv('postgres', { TESSERA_WORKER: 'off', TESSERA_METRICS_PORT: String(metricsPort) });
    try {
      const m = createMerchantCli(p);
      await p.serve();
      const ready = (await (await fetch(`${p.base}/ready`)).json()) as { status: string; checks: { worker: string } };
      assert.equal(ready.status, 'ready');
      assert.match(ready.checks.worker, /^off/);

      // An async token request is a job: with no worker anywhere, it waits.
      const encryptedData = await encryptOver(p, { fpan: '4242424242424242', exp: '1234', name: 'Ada Lovelace', cvv: '123', accountId: 'acct-1' });
      const accepted = await http(p, m, 'POST', '/cof/v1/async-tokens', { merchantId: m.id, source: 'ON_FILE', encryptedData });
      assert.equal(accepted.status, 202);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal((await http(p, m, 'GET', `/cof/v1/async-tokens/${accepted.body.requestId}`)).body.requestStatus, 'PENDING');

      // A worker process picks it up, and answers on its own port.
      p.worker();
      const metricsUrl = `http://127.0.0.1:${metricsPort}`;
      await eventually(async () => ((await fetch(`${metricsUrl}/health`).catch(() => undefined))?.ok ? true : undefined), 20_000, 'the worker');
      await eventually(async () => ((await http(p, m, 'GET', `/cof/v1/async-tokens/${accepted.body.requestId}`)).body.requestStatus === 'SUCCEEDED' ? true : undefined), 10_000, 'the job');
      const workerReady = await fetch(`${metricsUrl}/ready`);
      assert.equal(workerReady.status, 200);
      assert.deepEqual(((await workerReady.json()) as { checks: unknown }).checks, { database: 'ok', migrations: 'ok', worker: 'ok' });
      const metrics = await eventually(async () => {
        const text = await (await fetch(`${metricsUrl}/metrics`)).text();
        return /tessera_notification_attempts_total\{outcome="delivered"|tessera_tokens_created_total\{kind="network"\} 1/.test(text) ? text : undefined;
      }, 10_000, 'the worker to count its work');
      assert.match(metrics, /tessera_job_queue_depth/);
      assert.match(metrics, /tessera_process_cpu_seconds_total/);
      assert.doesNotMatch(metrics, /4242424242424242/);
      assert.equal((await fetch(`${metricsUrl}/anything`)).status, 404);
      assert.equal((await fetch(`${metricsUrl}/metrics`, { method: 'POST' })).status, 405);
    } finally {
      await p.close();
    }
  });

  it('refuses a TESSERA_WORKER that is neither on nor off', () => {
    const r = spawnTessera(['migrate'], { TESSERA_WORKER: 'maybe' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /TESSERA_WORKER must be on or off/);
  });
});

function spawnTessera(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'tessera.js'), ...args], { encoding: 'utf8', env: { ...process.env, TESSERA_DATA_DIR: '/nonexistent/tessera', ...env } });
}
