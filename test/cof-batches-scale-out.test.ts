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

    it('rides out a server killed and restarted mid-import: it waits, resumes, sends no row twice and writes every result', async () => {
      // Slow TSP calls: the kill lands while chunks are still being sent or records processed.
      const p = await processEnv(engine, { TESSERA_SANDBOX_LATENCY_MS: '20-40' });
      try {
        let server = await p.serve();
        const m = createMerchantCli(p);
        const rows = skewedRecords(120, 0.4, 'k').map((r) => `${r.rowId},${r.fpan},${r.exp},,${r.accountId},`);
        const file = join(p.env.TESSERA_DATA_DIR!, 'cards.csv');
        const out = join(p.env.TESSERA_DATA_DIR!, 'results.csv');
        writeFileSync(file, ['rowId,fpan,exp,name,accountId,email', ...rows].join('\n') + '\n');
        const batchId = 'import-restart';
        const child = p.background(['cof', 'import', '--url', p.base, '--merchant', m.id, '--api-key', m.privateKey, '--file', file, '--out', out, '--chunk-size', '10', '--batch-id', batchId, '--json']);
        let stdout = '';
        let stderr = '';
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        await eventually(async () => (((await http(p, m, 'GET', `/cof/v1/batches/${batchId}`)).body.totalRecords ?? 0) >= 10 ? true : undefined), 20_000, 'a first chunk');
        await p.kill9(server);
        await new Promise((r) => setTimeout(r, 1500));
        server = await p.serve();
        assert.equal(await exited, 0, stderr);
        assert.match(stderr, /did not answer; trying again/);
        assert.equal(JSON.parse(stdout).totalRecords, 120, 'every row accepted once');
        const csv = readFileSync(out, 'utf8').trim().split('\n').slice(1);
        assert.equal(csv.length, 120);
        assert.equal(new Set(csv.map((l) => l.split(',')[0])).size, 120, 'one result per row');
        assert.ok(csv.every((l) => l.split(',')[1] === 'SUCCEEDED'), csv.find((l) => l.split(',')[1] !== 'SUCCEEDED'));
        assert.doesNotMatch(stderr + stdout, new RegExp(rows.map((r) => r.split(',')[1]).join('|')));
      } finally {
        await p.close();
      }
    });

    it('gives up after --retry-for when the server stays away, and says how to resume', async () => {
      const p = await processEnv(engine);
      try {
        const server = await p.serve();
        const m = createMerchantCli(p);
        const file = join(p.env.TESSERA_DATA_DIR!, 'cards.csv');
        writeFileSync(file, 'rowId,fpan,exp\nr1,4242424242424242,1234\n');
        await p.kill9(server);
        const args = ['cof', 'import', '--url', p.base, '--merchant', m.id, '--api-key', m.privateKey, '--file', file, '--out', join(p.env.TESSERA_DATA_DIR!, 'r.csv')];
        const gone = p.run([...args, '--retry-for', '2']);
        assert.equal(gone.status, 1);
        assert.match(gone.stderr, /did not answer, for \d+ s\. Run the same command again to resume\./);
        assert.match(gone.stderr, /trying again in/);
        const bad = p.run([...args, '--retry-for', 'soon']);
        assert.equal(bad.status, 2);
        assert.match(bad.stderr, /--retry-for must be 0 to 86400 seconds/);
      } finally {
        await p.close();
      }
    });
  });
}
