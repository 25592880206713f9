import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENGINES, eventually } from './support/harness.ts';
import { BINS, skewedRecords } from './support/batches.ts';
import { createMerchantCli, encryptOver, http, processEnv } from './support/processes.ts';

const CAP = 40;

describe('scale-out on postgres', { skip: !ENGINES.includes('postgres') && 'PostgreSQL not in TESSERA_TEST_ENGINES' }, () => {
  it('runs a batch on two tessera worker processes beside the API: one result per record, both workers busy, every issuer under its cap', async () => {
    const p = await processEnv('postgres', { TESSERA_SANDBOX_ISSUER_TPS: String(CAP) });
    try {
      const m = createMerchantCli(p);
      // The API serves but its scheduler shares the work; two worker-only processes join it.
      await p.serve();
      p.worker();
      p.worker();
      const records = skewedRecords(400, 0.4);
      const res = await http(p, m, 'POST', '/cof/v1/batches', { merchantId: m.id, batchId: 'wide', last: true, encryptedData: await encryptOver(p, { records }) });
      assert.equal(res.status, 202);
      const done = await eventually(async () => {
        const b = (await http(p, m, 'GET', '/cof/v1/batches/wide')).body;
        return b.status === 'COMPLETED' ? b : undefined;
      }, 30_000, 'completion');
      assert.equal(done.succeeded, 400);
      const [r] = await p.query(`SELECT count(*) AS n, count(DISTINCT row_id) AS rows, count(DISTINCT claimed_by) AS processes FROM batch_records`);
      assert.equal(Number(r!.n), 400);
      assert.equal(Number(r!.rows), 400);
      assert.ok(Number(r!.processes) >= 2, `records were processed by ${r!.processes} process(es)`);
      const stats = (await http(p, m, 'GET', '/sandbox/v1/stats')).body.issuers as Record<string, { throttled: number; maxPerSecond: number }>;
      assert.equal(Object.keys(stats).length, BINS.length);
      for (const [bin, s] of Object.entries(stats)) assert.ok(s.maxPerSecond <= CAP * 1.1, `issuer ${bin} peaked at ${s.maxPerSecond}/s across processes`);
      assert.ok(Object.values(stats).reduce((n, s) => n + s.throttled, 0) <= 5);
    } finally {
      await p.close();
    }
  });
});

for (const engine of ENGINES) {
  describe(`tessera cof import on ${engine}`, () => {
    it('imports a CSV, resumes when run again, and writes one result row per card', async () => {
      const p = await processEnv(engine);
      try {
        await p.serve();
        const m = createMerchantCli(p);
        const rows = skewedRecords(25, 0.4, 'c').map((r) => `${r.rowId},${r.fpan},${r.exp},"Lovelace, Ada",${r.accountId},`);
        rows.push('bad,4242424242424241,1234,,,');
        const file = join(p.env.TESSERA_DATA_DIR!, 'cards.csv');
        const out = join(p.env.TESSERA_DATA_DIR!, 'results.csv');
        writeFileSync(file, ['rowId,fpan,exp,name,accountId,email', ...rows].join('\n') + '\n');
        const args = ['cof', 'import', '--url', p.base, '--merchant', m.id, '--api-key', m.privateKey, '--file', file, '--out', out, '--chunk-size', '10'];
        const first = p.run(args);
        assert.equal(first.status, 0, first.stderr);
        const csv = readFileSync(out, 'utf8').trim().split('\n');
        assert.equal(csv[0], 'rowId,status,tokenId,tokenStatus,cardLastDigits,errorCode,message');
        assert.equal(csv.length, 27);
        assert.match(csv.find((l) => l.startsWith('bad,'))!, /^bad,FAILED,.*invalid_number/);
        assert.doesNotMatch(first.stderr + first.stdout, /4242424242424241/);
        // Again: the batch (named after the file's content) is complete; nothing is sent twice.
        const again = p.run([...args, '--json']);
        assert.equal(again.status, 0, again.stderr);
        assert.equal(JSON.parse(again.stdout).totalRecords, 26);
      } finally {
        await p.close();
      }
    });
  });
}
