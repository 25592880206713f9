import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES, closeAndScan, startInstance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera } from './support/cof.ts';
import { allResults, BINS, cardOf, sendChunk, skewedRecords, waitCompleted } from './support/batches.ts';

// Small enough for CI (≈ 6 s per engine; the machine is shared and PostgreSQL commits are its limit here); bench/batches.ts runs the 50,000-record version.
const CAP = 40;
const RECORDS = 500;
const BIG_SHARE = 0.4;
const FLOOR_MS = ((RECORDS * BIG_SHARE) / CAP) * 1000;

for (const engine of ENGINES) {
  describe(`batch scheduling on ${engine}`, () => {
    it('spreads a skewed batch over every issuer under its cap, close to the floor, without starving a small batch or the sync API', async () => {
      const t = await startInstance(engine, { TESSERA_SANDBOX_ISSUER_TPS: String(CAP) });
      try {
        const big = await createCofMerchant(t, { name: 'Big PSP' });
        const small = await createCofMerchant(t, { name: 'Small PSP' });
        const accepted = await sendChunk(t, big, 'big', skewedRecords(RECORDS, BIG_SHARE), true);
        assert.equal(accepted.status, 202, accepted.text);
        await new Promise((r) => setTimeout(r, 500));

        // A small batch on the busiest issuer, arriving after the big one: it takes turns, it does not queue behind.
        const smallStart = Date.now();
        const smallRecords = Array.from({ length: 20 }, (_, i) => ({ rowId: `s${i}`, fpan: cardOf(BINS[0]!, 900_000 + i), exp: '1234' }));
        assert.equal((await sendChunk(t, small, 'small', smallRecords, true)).status, 202);
        // The interactive API still gets through to the busiest issuer (batches leave it headroom).
        const sync = await cof(t, small, 'POST', '/cof/v1/tokens', {
          body: { merchantId: small.id, encryptedData: await encryptToTessera(t, cardPayload(cardOf(BINS[0]!, 999_999))), source: 'ON_FILE' },
        });
        assert.equal(sync.status, 201, sync.text);
        await waitCompleted(t, small, 'small', 10_000);
        const smallMs = Date.now() - smallStart;
        const bigMeanwhile = await cof(t, big, 'GET', '/cof/v1/batches/big');
        assert.notEqual(bigMeanwhile.body.status, 'COMPLETED', 'the small batch finished first');
        assert.ok(smallMs < 4000, `the small batch took ${smallMs} ms`);

        const done = await waitCompleted(t, big, 'big', 30_000);
        assert.equal(done.succeeded, RECORDS);
        const makespan = Date.parse(done.completedAt) - Date.parse(done.startedAt);
        // The 1.3× target belongs to the 50,000-record bench; on a shared 2-core CI machine PostgreSQL's commits
        // can slow this short run, so the test bounds it at 2× (serving the issuers one after another would take ~2.7×).
        assert.ok(makespan <= FLOOR_MS * 2, `makespan ${makespan} ms vs floor ${FLOOR_MS} ms`);
        assert.ok(makespan >= FLOOR_MS * 0.95, `faster than the cap allows: ${makespan} ms`);

        const stats = (await cof(t, big, 'GET', '/sandbox/v1/stats')).body.issuers as Record<string, { requests: number; throttled: number; maxPerSecond: number }>;
        assert.deepEqual(Object.keys(stats).sort(), [...BINS].sort(), 'every issuer got work');
        let throttled = 0;
        for (const [bin, s] of Object.entries(stats)) {
          throttled += s.throttled;
          assert.ok(s.maxPerSecond <= CAP * 1.1, `issuer ${bin} peaked at ${s.maxPerSecond}/s`);
        }
        assert.ok(throttled <= 5, `${throttled} throttled calls`);
        assert.equal(stats[BINS[0]!]!.requests - stats[BINS[0]!]!.throttled, RECORDS * BIG_SHARE + 21);
        assert.equal((await allResults(t, big, 'big')).length, RECORDS);
      } finally {
        assert.deepEqual(await closeAndScan(t), []);
      }
    });
  });
}
