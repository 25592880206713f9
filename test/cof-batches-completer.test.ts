import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES, closeAndScan, startInstance } from './support/harness.ts';
import { createCofMerchant, startReceiver } from './support/cof.ts';
import { cardOf, sendChunk, waitCompleted } from './support/batches.ts';
import { BatchCompleter } from '../src/services/batch-completer.ts';
import { BatchScheduler } from '../src/services/batch-scheduler.ts';
import { claimRecords } from '../src/storage/repos/batches.ts';

for (const engine of ENGINES) {
  describe(`batch results on ${engine}`, () => {
    it('counts and notifies a record once when it is in one group of results twice (its lease expired and it was taken again)', async () => {
      // No worker: this test plays the scheduler's part by hand.
      const t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
      const receiver = await startReceiver();
      try {
        const m = await createCofMerchant(t, { notificationUrl: receiver.url });
        const records = [0, 1].map((i) => ({ rowId: `r${i}`, fpan: cardOf('411111', i), exp: '1234' }));
        assert.equal((await sendChunk(t, m, 'twice', records, true)).status, 202);
        const db = t.deps.db;
        const first = await claimRecords(db, '411111', 10, 'process-a', Date.now() - 1, Date.now());
        assert.equal(first.length, 2);
        // The lease ran out; the records went back to the queue and were claimed again.
        await db.kysely.updateTable('batch_records').set({ status: 'PENDING', lease_until: null }).where('batch_pk', '=', first[0]!.batch_pk).execute();
        const second = await claimRecords(db, '411111', 10, 'process-a', Date.now() + 60_000, Date.now());
        assert.equal(second.length, 2);

        const completer = new BatchCompleter({ db, notifications: t.deps.services.notifications, networkTokens: t.deps.services.networkTokens, log: t.deps.log, now: Date.now, nudge: () => {} });
        const outcome = (tokenId: string) => ({ ok: true as const, view: { tokenId, tokenStatus: 'ACTIVE' } as never });
        // Both runs of each record end in the same group of results.
        const writes = [...first, ...second].map((r, i) => completer.add(r, outcome(`tok-${i}`)));
        await completer.flush();
        await Promise.all(writes);

        const batch = await db.kysely.selectFrom('batches').selectAll().where('batch_id', '=', 'twice').executeTakeFirstOrThrow();
        assert.equal(batch.succeeded, 2, 'two records, two results');
        assert.equal(batch.status, 'COMPLETED');
        // One result per record: the outcome of its first run in the group (claim order differs by engine).
        const firstRun = new Map<string, string>();
        [...first, ...second].forEach((r, i) => firstRun.has(r.row_id) || firstRun.set(r.row_id, `tok-${i}`));
        const rows = await db.kysely.selectFrom('batch_records').select(['row_id', 'status', 'token_id']).where('batch_pk', '=', batch.id).orderBy('seq').execute();
        assert.deepEqual(rows.map((r) => [r.row_id, r.status, r.token_id]), [['r0', 'SUCCEEDED', firstRun.get('r0')], ['r1', 'SUCCEEDED', firstRun.get('r1')]]);
        const perRecord = await db.kysely.selectFrom('deliveries').select('event_type').where('merchant_id', '=', m.id).execute();
        assert.equal(perRecord.length, 3, `one notification per record and one for the batch: ${JSON.stringify(perRecord)}`);
      } finally {
        await receiver.close();
        assert.deepEqual(await closeAndScan(t), []);
      }
    });
  });
}

for (const engine of ENGINES) {
  describe(`batch scheduler faults on ${engine}`, () => {
    it('gives a claim whose access cannot be audited back at once, and still finishes the batch (no in-flight slot lost)', async () => {
      // No worker: this test runs its own scheduler, with 8 slots and a lease far beyond the test.
      const t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
      let scheduler: BatchScheduler | undefined;
      try {
        const m = await createCofMerchant(t);
        const records = Array.from({ length: 120 }, (_, i) => ({ rowId: `r${i}`, fpan: cardOf('411111', i), exp: '1234' }));
        assert.equal((await sendChunk(t, m, 'audit-faults', records, true)).status, 202);
        const audit = t.deps.audit;
        let failures = 3;
        const flaky = {
          ...audit,
          // The audit store refuses the first claims (e.g. the database was locked past busy_timeout).
          recordMany: async (entries: Parameters<typeof audit.recordMany>[0]) => {
            if (failures-- > 0) throw new Error('database is locked');
            return audit.recordMany(entries);
          },
        };
        const { db, log } = t.deps;
        const s = t.deps.services;
        scheduler = new BatchScheduler(
          { db, vault: t.deps.vault, audit: flaky, networkTokens: s.networkTokens, notifications: s.notifications, log, now: Date.now, nudge: () => {} },
          { issuerTps: 0, share: 1, concurrency: 8, leaseMs: 600_000, maxAttempts: 10, retryBaseMs: 10 },
        );
        scheduler.start();
        const done = await waitCompleted(t, m, 'audit-faults', 20_000);
        assert.equal(done.succeeded, 120);
        assert.ok(failures < 0, 'the audit refused claims');
        const [row] = await db.kysely.selectFrom('batch_records').select((eb) => eb.fn.max('attempts').as('most')).execute();
        assert.ok(Number(row!.most) >= 2, 'a refused claim was tried again');
      } finally {
        await scheduler?.stop();
        assert.deepEqual(await closeAndScan(t), []);
      }
    });
  });
}
