import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { startReceiver } from './support/cof.ts';
import { orderBody } from './support/orders.ts';

const TIMEOUT_MS = 3000;
const SLOW_MS = 1000;
const PER_MERCHANT = 20;
/** Deliveries queued for each misbehaving receiver (each hanging one holds a slot for TIMEOUT_MS). */
const BAD_PER_MERCHANT = 8;

/** Receivers that misbehave: one never answers, one answers 200 after SLOW_MS, one speaks garbage instead of HTTP. */
async function badReceivers() {
  const sockets = new Set<Socket>();
  const hang = createHttpServer(() => {});
  const slow = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => setTimeout(() => res.writeHead(200).end('ok'), SLOW_MS));
  });
  const garbage = createTcpServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', () => socket.end('HELLO\x00\xff NOT HTTP\r\n\r\n'));
  });
  const servers: (Server | ReturnType<typeof createTcpServer>)[] = [hang, slow, garbage];
  for (const s of servers) {
    s.on('connection', (c: Socket) => {
      sockets.add(c);
      c.on('close', () => sockets.delete(c));
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  }
  const url = (s: { address(): unknown }) => `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`;
  return {
    hang: url(hang),
    slow: url(slow),
    garbage: url(garbage),
    async close() {
      for (const c of sockets) c.destroy();
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function p99(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)] ?? 0;
}

for (const engine of ENGINES) {
  describe(`notification receivers that hang, crawl or speak garbage on ${engine}`, () => {
    let t: Instance;
    let bad: Awaited<ReturnType<typeof badReceivers>>;
    let healthy: Awaited<ReturnType<typeof startReceiver>>;
    const m: Record<'a' | 'b' | 'c' | 'd', MerchantCredentials & { webhookId: string }> = {} as never;
    before(async () => {
      t = await startInstance(engine, { TESSERA_NOTIFY_TIMEOUT_MS: String(TIMEOUT_MS), TESSERA_RETRY_BASE_MS: '500', TESSERA_WORKER_POLL_MS: '50' });
      bad = await badReceivers();
      healthy = await startReceiver();
      const urls = { a: bad.hang, b: bad.slow, c: bad.garbage, d: healthy.url };
      for (const key of ['a', 'b', 'c', 'd'] as const) {
        const creds = await createMerchant(t, key.toUpperCase());
        const hook = await call(t, creds.jwt, 'POST', '/api/webhooks', { body: { url: urls[key], events: ['orders.create'] } });
        assert.equal(hook.status, 201, hook.text);
        m[key] = { ...creds, webhookId: hook.body.id };
      }
    });
    after(async () => {
      await bad.close();
      await healthy.close();
      assert.deepEqual(await closeAndScan(t), [], 'no PAN in logs or database');
    });

    it("the healthy merchant's webhooks arrive promptly and the API stays fast while three other receivers misbehave", async () => {
      // Baseline: the API alone.
      const quiet: number[] = [];
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        assert.equal((await call(t, m.d.jwt, 'POST', '/api/orders', { body: orderBody() })).status, 201);
        quiet.push(performance.now() - t0);
      }
      await eventually(async () => (healthy.received.length >= 20 ? true : undefined), 10_000, 'baseline deliveries');
      healthy.received.length = 0;

      // The storm: A, B and C each get PER_MERCHANT deliveries queued first, then D's orders come in.
      for (let i = 0; i < BAD_PER_MERCHANT; i++) {
        for (const key of ['a', 'b', 'c'] as const) assert.equal((await call(t, m[key].jwt, 'POST', '/api/orders', { body: orderBody() })).status, 201);
      }
      await new Promise((r) => setTimeout(r, 300));
      const sentAt = new Map<string, number>();
      const during: number[] = [];
      for (let i = 0; i < PER_MERCHANT; i++) {
        const t0 = performance.now();
        const res = await call(t, m.d.jwt, 'POST', '/api/orders', { body: orderBody() });
        during.push(performance.now() - t0);
        assert.equal(res.status, 201);
        sentAt.set(res.body.id, Date.now());
        await new Promise((r) => setTimeout(r, 50));
      }
      await eventually(async () => (healthy.received.length >= PER_MERCHANT ? true : undefined), TIMEOUT_MS * 3, "D's deliveries");
      const latencies = healthy.received.map((r) => r.at - sentAt.get(r.json.data.id)!);
      const worst = Math.max(...latencies);
      console.log(`during: ${during.map((x) => x.toFixed(0)).join(' ')}`);
      console.log(`D delivery latency: max ${worst} ms, p99 ${p99(latencies)} ms; API p99 quiet ${p99(quiet).toFixed(1)} ms, during ${p99(during).toFixed(1)} ms`);
      // Without per-destination limits and free-slot scheduling, D's deliveries waited behind A's
      // hanging ones for the whole TIMEOUT_MS.
      assert.ok(worst < TIMEOUT_MS / 2, `D's slowest delivery took ${worst} ms (A's receiver hangs for ${TIMEOUT_MS} ms)`);
      // The machine is shared: compare medians (robust to a neighbour's burst), and bound the tail.
      assert.ok(median(during) < 3 * median(quiet) + 20, `API median ${median(during)} ms during the storm vs ${median(quiet)} ms quiet`);
      assert.ok(p99(during) < 1000, `API p99 ${p99(during)} ms during the storm`);
    });

    it('the misbehaving receivers are retried per policy: timeouts and garbage retried, the slow one delivered', async () => {
      const attemptsOf = async (key: 'a' | 'b' | 'c') => (await call(t, m[key].jwt, 'GET', `/api/webhooks/${m[key].webhookId}/deliveries`)).body.data as any[];
      // A's receiver holds each attempt for TIMEOUT_MS and only 4 run at once: wait for a retry.
      const hung = await eventually(async () => {
        const data = await attemptsOf('a');
        return data.length === BAD_PER_MERCHANT && data.some((d) => d.attempts >= 2) ? data : undefined;
      }, TIMEOUT_MS * 12, "a retry of A's deliveries");
      const attempted = hung.filter((d) => d.attempts >= 1);
      assert.ok(attempted.length >= 4, `${attempted.length} of A's deliveries attempted`);
      for (const d of attempted) {
        assert.equal(d.status, 'pending', 'a timeout is retried');
        assert.match(String(d.attempt_log[0].error), /timeout/);
      }
      const garbled = await eventually(async () => {
        const data = await attemptsOf('c');
        return data.every((d) => d.attempts >= 2) ? data : undefined;
      }, TIMEOUT_MS * 10, "C's retries");
      for (const d of garbled) {
        assert.equal(d.status, 'pending');
        assert.equal(d.attempt_log[0].status_code, null);
        assert.ok(d.attempt_log[0].error, 'the parse failure is recorded');
      }
      const slow = await eventually(async () => {
        const data = await attemptsOf('b');
        return data.length === BAD_PER_MERCHANT && data.every((d) => d.status === 'delivered') ? data : undefined;
      }, TIMEOUT_MS * 10, "B's deliveries");
      assert.ok(slow.every((d) => d.attempts === 1), 'a slow 200 within the timeout is delivered at once');
    });
  });
}
