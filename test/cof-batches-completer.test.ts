import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES, closeAndScan, startInstance } from './support/harness.ts';
import { createCofMerchant, startReceiver } from './support/cof.ts';
import { cardOf, sendChunk } from './support/batches.ts';
import { BatchCompleter } from '../src/services/batch-completer.ts';
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
