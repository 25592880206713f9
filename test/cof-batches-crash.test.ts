import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINES, eventually } from './support/harness.ts';
import { cardOf } from './support/batches.ts';
import { createMerchantCli, encryptOver, http, processEnv } from './support/processes.ts';

// Mastercard issues a new token per request: a TSP call repeated after a crash would show as a second token.
const MC_BINS = ['522222', '533333', '544444'];
const RECORDS = 450;

for (const engine of ENGINES) {
  describe(`batches across kill -9 on ${engine}`, () => {
    it('gives every accepted record exactly one result after the server is killed twice mid-batch, with no token issued twice', async () => {
      const p = await processEnv(engine, { TESSERA_SANDBOX_ISSUER_TPS: '60', TESSERA_BATCH_LEASE_MS: '1000' });
      try {
        let server = await p.serve();
        const m = createMerchantCli(p);
        const records = Array.from({ length: RECORDS }, (_, i) => ({ rowId: `row-${i}`, fpan: cardOf(MC_BINS[i % 3]!, i), exp: '1234' }));
        const res = await http(p, m, 'POST', '/cof/v1/batches', { merchantId: m.id, batchId: 'crash', last: true, encryptedData: await encryptOver(p, { records }) });
        assert.equal(res.status, 202, JSON.stringify(res.body));
        for (const atLeast of [60, 200]) {
          await eventually(async () => ((await http(p, m, 'GET', '/cof/v1/batches/crash')).body.processed >= atLeast ? true : undefined), 20_000, `${atLeast} results`);
          await p.kill9(server);
          server = await p.serve();
        }
        const done = await eventually(async () => {
          const b = (await http(p, m, 'GET', '/cof/v1/batches/crash')).body;
          return b.status === 'COMPLETED' ? b : undefined;
        }, 30_000, 'completion');
        assert.equal(done.succeeded, RECORDS);
        const rows = [];
        let cursor: string | null = '';
        while (cursor !== null) {
          const page = await http(p, m, 'GET', `/cof/v1/batches/crash/results?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
          rows.push(...page.body.results);
          cursor = page.body.nextCursor;
        }
        assert.equal(rows.length, RECORDS);
        assert.equal(new Set(rows.map((r) => r.rowId)).size, RECORDS, 'one result per record');
        const [tsp] = await p.query(`SELECT count(*) AS n, count(DISTINCT request_id) AS ids FROM sandbox_tsp_tokens`);
        assert.equal(Number(tsp!.n), RECORDS, 'the TSP issued one token per record, however often it was asked');
        assert.equal(Number(tsp!.ids), RECORDS);
        const [tokens] = await p.query(`SELECT count(*) AS n FROM network_tokens`);
        assert.equal(Number(tokens!.n), RECORDS);
        assert.equal(new Set(rows.map((r) => r.tokenId)).size, RECORDS);
      } finally {
        await p.close();
      }
    });

    if (engine === 'sqlite') {
      it('takes back the records a killed server left in flight as soon as it restarts (the only process), not when their leases end', async () => {
        // Slow TSP calls (records are in flight when the server dies), leases longer than the test: only taking the records back at start finishes the batch.
        const p = await processEnv(engine, { TESSERA_SANDBOX_LATENCY_MS: '300-600', TESSERA_BATCH_LEASE_MS: '600000' });
        try {
          let server = await p.serve();
          const m = createMerchantCli(p);
          const records = Array.from({ length: 300 }, (_, i) => ({ rowId: `row-${i}`, fpan: cardOf(MC_BINS[i % 3]!, i), exp: '1234' }));
          const res = await http(p, m, 'POST', '/cof/v1/batches', { merchantId: m.id, batchId: 'restart', last: true, encryptedData: await encryptOver(p, { records }) });
          assert.equal(res.status, 202, JSON.stringify(res.body));
          await eventually(async () => ((await http(p, m, 'GET', '/cof/v1/batches/restart')).body.processed >= 30 ? true : undefined), 20_000, '30 results');
          await p.kill9(server);
          const [left] = await p.query(`SELECT count(*) AS n FROM batch_records WHERE status = 'INFLIGHT'`);
          assert.ok(Number(left!.n) > 0, 'the kill left records in flight');
          server = await p.serve();
          const done = await eventually(async () => {
            const b = (await http(p, m, 'GET', '/cof/v1/batches/restart')).body;
            return b.status === 'COMPLETED' ? b : undefined;
          }, 30_000, 'completion');
          assert.equal(done.succeeded, 300);
          const [tsp] = await p.query(`SELECT count(*) AS n FROM sandbox_tsp_tokens`);
          assert.equal(Number(tsp!.n), 300, 'one token per record');
        } finally {
          await p.close();
        }
      });
    }
  });
}
