import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS, findPans } from './support/cards.ts';
import { makeTrace, runWithTrace, traceOf, withTrace } from '../src/observability/trace-context.ts';
import { call, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, startReceiver } from './support/cof.ts';

for (const engine of ENGINES) {
  describe(`GET /ready and GET /health on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
    });
    after(async () => {
      await t.close();
    });

    it('answers 503 naming the worker while the worker loop is not running, and /health stays 200', async () => {
      const res = await call(t, undefined, 'GET', '/ready');
      assert.equal(res.status, 503);
      assert.deepEqual(res.body, { status: 'not_ready', checks: { database: 'ok', migrations: 'ok', worker: 'not running' } });
      assert.equal((await call(t, undefined, 'GET', '/health')).status, 200);
    });

    it('answers 200 once the database answers, migrations are applied and the worker loop goes round', async () => {
      t.deps.worker.start();
      await eventually(async () => (t.deps.worker.lastTickAt > 0 ? true : undefined));
      const res = await call(t, undefined, 'GET', '/ready');
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { status: 'ready', checks: { database: 'ok', migrations: 'ok', worker: 'ok' } });
    });

    it('answers 503 again once the worker is stopped', async () => {
      await t.deps.worker.stop();
      const res = await call(t, undefined, 'GET', '/ready');
      assert.equal(res.status, 503);
      assert.equal(res.body.checks.worker, 'not running');
    });

    it('answers 503 when a running worker loop has not gone round for 30 s', async () => {
      // Started but stalled: a loop that never ticks again (its last tick 31 s ago).
      t.deps.worker.start();
      await t.deps.worker.stop();
      const realRunning = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(t.deps.worker), 'running')!;
      Object.defineProperty(t.deps.worker, 'running', { get: () => true, configurable: true });
      t.deps.worker.lastTickAt = Date.now() - 31_000;
      try {
        const res = await call(t, undefined, 'GET', '/ready');
        assert.equal(res.status, 503);
        assert.match(res.body.checks.worker, /^stalled \(last loop 3\d s ago\)$/);
      } finally {
        Object.defineProperty(t.deps.worker, 'running', realRunning);
      }
    });

    it('answers 503 naming the database when it does not answer, without its error text', async () => {
      await t.deps.db.close();
      const res = await call(t, undefined, 'GET', '/ready');
      assert.equal(res.status, 503);
      assert.equal(res.body.checks.database, 'not reachable');
      assert.equal(res.body.checks.migrations, 'unknown (database not reachable)');
    });
  });
}

for (const engine of ENGINES) {
  describe(`request ids in logs, jobs and notifications on ${engine}`, () => {
    let t: Instance;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      t = await startInstance(engine);
      receiver = await startReceiver([404]);
    });
    after(async () => {
      await receiver.close();
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()));
      await t.close();
      assert.deepEqual(leaked, []);
    });

    it('logs every request line with its request id', async () => {
      const res = await call(t, undefined, 'GET', '/health');
      const id = String(res.headers['x-request-id']);
      const lines = t.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'request' && l.reqId === id);
      assert.equal(lines.length, 1);
    });

    it('carries the request id and x-correlation-id into the job it causes and the notification that job sends', async () => {
      const m = await createCofMerchant(t, { notificationUrl: receiver.url });
      const body = { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'MANUAL' };
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body, correlationId: 'order-77' });
      assert.equal(res.status, 202, res.text);
      const reqId = String(res.headers['x-request-id']);
      // The merchant answers 404: the notification is dead at once, and the worker's log line says whose it was.
      const dead = await eventually(async () => t.logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'notification dead'), 5000, 'the dead notification');
      assert.equal(dead.reqId, reqId);
      assert.equal(dead.correlationId, 'order-77');
      assert.equal(receiver.received[0]!.headers['x-correlation-id'], 'order-77');
    });

    it('stores the trace in the job payload under _trace, beside what the handler reads', async () => {
      await t.deps.worker.stop();
      const m = await createCofMerchant(t, { notificationUrl: receiver.url });
      const body = { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard)), source: 'MANUAL' };
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body, correlationId: 'order-78' });
      assert.equal(res.status, 202, res.text);
      const jobs = await t.deps.db.kysely.selectFrom('jobs').select('payload').where('task', '=', 'cof.create_token').execute();
      const payloads = jobs.map((j) => JSON.parse(j.payload));
      assert.deepEqual(payloads.find((p) => p._trace?.reqId === res.headers['x-request-id'])?._trace, { reqId: res.headers['x-request-id'], correlationId: 'order-78' });
      t.deps.worker.start();
    });
  });
}

describe('trace context', () => {
  it('masks a card-number-like run in a correlation id before it reaches a log line or a job', () => {
    assert.deepEqual(makeTrace('req_1', 'x4111111111111111y'), { reqId: 'req_1', correlationId: 'x[redacted]y' });
    assert.deepEqual(makeTrace('req_1', 'order-77'), { reqId: 'req_1', correlationId: 'order-77' });
  });

  it('attaches the current trace to object payloads only, and reads it back', () => {
    assert.deepEqual(withTrace({ a: 1 }), { a: 1 }, 'no trace outside a request');
    runWithTrace(makeTrace('req_2'), () => {
      const p = withTrace({ a: 1 });
      assert.deepEqual(p, { a: 1, _trace: { reqId: 'req_2' } });
      assert.deepEqual(traceOf(JSON.parse(JSON.stringify(p))), { reqId: 'req_2' });
      assert.equal(withTrace('k'), 'k');
      assert.deepEqual(withTrace([1]), [1]);
    });
  });
});
