import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Worker, type TaskHandler } from '../src/jobs/worker.ts';
import { backoffMs } from '../src/domain/backoff.ts';
import { claimJobs, countJobs, enqueueJob } from '../src/storage/repos/jobs.ts';
import { ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';

const silent = pino({ level: 'silent' });

describe('retry backoff', () => {
  it('doubles from the base, with jitter in the upper half, capped', () => {
    for (let attempt = 1; attempt <= 20; attempt++) {
      const full = Math.min(3_600_000, 1000 * 2 ** (attempt - 1));
      const d = backoffMs(attempt, 1000, 3_600_000);
      assert.ok(d >= full / 2 && d <= full, `attempt ${attempt}: ${d}`);
    }
  });
});

for (const engine of ENGINES) {
  describe(`durable jobs on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
    });
    after(async () => t.close());

    async function clear() {
      await t.deps.db.kysely.deleteFrom('jobs').execute();
    }

    it('runs a job enqueued in a transaction only if the transaction commits', async () => {
      await clear();
      const now = Date.now();
      await t.deps.db.kysely.transaction().execute(async (trx) => enqueueJob(trx, { task: 'test.ok', payload: { n: 1 } }, now));
      await assert.rejects(
        t.deps.db.kysely.transaction().execute(async (trx) => {
          await enqueueJob(trx, { task: 'test.ok', payload: { n: 2 } }, now);
          throw new Error('rolled back');
        }),
      );
      const seen: unknown[] = [];
      const handlers = new Map<string, TaskHandler>([['test.ok', async (p) => void seen.push(p)]]);
      const worker = new Worker(t.deps.db, silent, handlers);
      assert.equal(await worker.drain(), 1);
      assert.deepEqual(seen, [{ n: 1 }]);
      assert.deepEqual(await countJobs(t.deps.db.kysely), {}, 'done jobs are removed');
    });

    it('retries a failing job with backoff, persists the error, and marks it dead after max attempts', async () => {
      await clear();
      await enqueueJob(t.deps.db.kysely, { task: 'test.fail', payload: {}, maxAttempts: 3 }, Date.now());
      let calls = 0;
      const handlers = new Map<string, TaskHandler>([
        ['test.fail', async () => {
          calls++;
          throw new Error(`boom ${calls}`);
        }],
      ]);
      const worker = new Worker(t.deps.db, silent, handlers, { retryBaseMs: 10, pollMs: 5 });
      worker.start();
      const dead = await eventually(async () => {
        const row = await t.deps.db.kysely.selectFrom('jobs').selectAll().where('task', '=', 'test.fail').executeTakeFirst();
        return row?.status === 'dead' ? row : undefined;
      }, 5000, 'the job to die');
      await worker.stop();
      assert.equal(calls, 3);
      assert.equal(dead.attempts, 3);
      assert.equal(dead.last_error, 'Error: boom 3');
    });

    it("takes over a job whose worker died holding it, once the lock expires", async () => {
      await clear();
      await enqueueJob(t.deps.db.kysely, { task: 'test.ok', payload: {} }, Date.now());
      const claimed = await claimJobs(t.deps.db, 'dead-worker', 10, 50, Date.now());
      assert.equal(claimed.length, 1);
      // Still locked: nobody else gets it.
      assert.equal((await claimJobs(t.deps.db, 'other', 10, 50, Date.now())).length, 0);
      await new Promise((r) => setTimeout(r, 60));
      const retaken = await claimJobs(t.deps.db, 'other', 10, 50, Date.now());
      assert.equal(retaken.length, 1);
      assert.equal(retaken[0]!.attempts, 2);
    });

    it('concurrent claimers never get the same job', async () => {
      await clear();
      const now = Date.now();
      for (let i = 0; i < 200; i++) await enqueueJob(t.deps.db.kysely, { task: 'test.ok', payload: { i } }, now);
      const results = await Promise.all(Array.from({ length: 8 }, (_, w) => claimJobs(t.deps.db, `w${w}`, 40, 60_000, now)));
      const ids = results.flat().map((j) => j.id);
      assert.equal(ids.length, 200);
      assert.equal(new Set(ids).size, 200);
    });

    it('a unique key keeps one pending job; a rescheduling handler keeps it recurring', async () => {
      await clear();
      const now = Date.now();
      await enqueueJob(t.deps.db.kysely, { task: 'test.recurring', payload: {}, uniqueKey: 'r' }, now);
      await enqueueJob(t.deps.db.kysely, { task: 'test.recurring', payload: {}, uniqueKey: 'r' }, now);
      assert.deepEqual(await countJobs(t.deps.db.kysely), { pending: 1 });
      let runs = 0;
      const handlers = new Map<string, TaskHandler>([['test.recurring', async () => (runs++, { rescheduleAt: Date.now() + 60_000 })]]);
      await new Worker(t.deps.db, silent, handlers).drain();
      assert.equal(runs, 1);
      const row = await t.deps.db.kysely.selectFrom('jobs').selectAll().executeTakeFirstOrThrow();
      assert.equal(row.status, 'pending');
      assert.ok(row.run_at > Date.now() + 50_000);
    });
  });
}
