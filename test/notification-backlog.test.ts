import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { startReceiver } from './support/cof.ts';
import { TASK_DELIVER } from '../src/services/notifications.ts';

/**
 * A backlog of notifications for one receiver that this process has not heard from yet (a restart
 * after an outage, a bulk of lifecycle changes): every delivery but the few allowed in flight is put
 * back. On SQLite, where such a job settles without I/O, the worker once claimed the next job in the
 * same run of microtasks as the last one ended, and the process answered nothing — not HTTP, not
 * the attempts in flight — for tens of seconds (found by `npm run bench:cof`, 20,000 queued).
 */
const BACKLOG = 3000;

async function enqueue(t: Instance, merchantId: string, url: string, n: number): Promise<void> {
  for (let done = 0; done < n; done += 500) {
    await t.deps.db.kysely.transaction().execute(async (trx) => {
      for (let i = done; i < Math.min(n, done + 500); i++) {
        await t.deps.services.notifications.enqueue(trx, { merchantId, url, eventType: 'token.updated', body: { i } });
      }
    });
  }
}

/** The longest the event loop went without running a 10 ms interval timer, while `run` runs. */
async function longestStall<T>(run: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 10);
  try {
    const result = await run();
    return { result, stallMs };
  } finally {
    clearInterval(timer);
  }
}

for (const engine of ENGINES) {
  describe(`a backlog of notifications for a receiver not yet known healthy on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off', TESSERA_NOTIFY_TIMEOUT_MS: '2000' });
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no PAN in logs or database');
    });

    it('is delivered in full while the process keeps answering', async () => {
      const receiver = await startReceiver();
      try {
        const merchant = await createMerchant(t, 'Backlog');
        await enqueue(t, merchant.id, receiver.url, BACKLOG);
        const { stallMs } = await longestStall(async () => {
          t.deps.worker.start();
          let health = 0;
          await eventually(async () => {
            // The API answers all along (over the loop the worker runs on).
            const res = await t.app.inject({ method: 'GET', url: '/health' });
            assert.equal(res.statusCode, 200);
            health += 1;
            return receiver.received.length >= BACKLOG ? true : undefined;
          }, 60_000, `${BACKLOG} deliveries`);
          return health;
        });
        assert.equal(new Set(receiver.received.map((r) => r.json.i)).size, BACKLOG, 'every delivery arrived');
        // Normally a few ms; before the fix, the whole backlog's time (tens of seconds).
        assert.ok(stallMs < 2000, `the event loop stalled for ${stallMs.toFixed(0)} ms`);
      } finally {
        await t.deps.worker.stop();
        await receiver.close();
      }
    });

    it('to a receiver that hangs, is put back until a slot should be free, not every few hundred ms', async () => {
      const sockets = new Set<Socket>();
      const hang: Server = createServer(() => {});
      hang.on('connection', (c) => {
        sockets.add(c);
        c.on('close', () => sockets.delete(c));
      });
      await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook`;
      try {
        const merchant = await createMerchant(t, 'Hang');
        const n = 1000;
        await enqueue(t, merchant.id, url, n);
        t.deps.worker.start();
        // Every delivery has been looked at once: all but the few in flight were put back.
        const k = t.deps.db.kysely;
        const pendingLater = async (ms: number) =>
          Number(
            (
              await k
                .selectFrom('jobs')
                .select((eb) => eb.fn.countAll<number>().as('n'))
                .where('task', '=', TASK_DELIVER)
                .where('status', '=', 'pending')
                .where('run_at', '>', Date.now() + ms)
                .executeTakeFirstOrThrow()
            ).n,
          );
        await eventually(async () => ((await pendingLater(0)) >= n - 16 ? true : undefined), 20_000, 'every delivery put back');
        // Put back one behind the other, a slot's worth of time apart: most of them seconds ahead.
        // (With a fixed 250–500 ms deferral, none was more than 500 ms ahead, and the worker took
        // and put back the whole backlog twice a second for as long as the receiver hung.)
        const farAhead = await pendingLater(5000);
        assert.ok(farAhead > n / 2, `${farAhead} of ${n} put back more than 5 s ahead`);
        const attempted = Number(
          (await k.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('merchant_id', '=', merchant.id).where('attempts', '>', 0).executeTakeFirstOrThrow()).n,
        );
        assert.ok(attempted <= 8, `${attempted} attempts to a hanging receiver (4 at a time, ${2000} ms each)`);
      } finally {
        await t.deps.worker.stop();
        for (const c of sockets) c.destroy();
        await new Promise((r) => hang.close(r));
      }
    });
  });
}
