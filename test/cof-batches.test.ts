import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS, findPans, TEST_PANS } from './support/cards.ts';
import { ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { cof, createCofMerchant, encryptToTessera, startReceiver, type CofMerchant } from './support/cof.ts';
import { allResults, cardOf, BINS, sendChunk, waitCompleted } from './support/batches.ts';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BAD_LUHN = '4242424242424241';
TEST_PANS.push(BAD_LUHN, ...Array.from({ length: 20 }, (_, i) => cardOf(BINS[i % BINS.length]!, i)));

for (const engine of ENGINES) {
  describe(`bulk tokenization on ${engine}`, () => {
    let t: Instance;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let m: CofMerchant;
    let other: CofMerchant;

    before(async () => {
      t = await startInstance(engine);
      receiver = await startReceiver();
      m = await createCofMerchant(t, { notificationUrl: receiver.url });
      other = await createCofMerchant(t, { name: 'Other PSP' });
    });
    after(async () => {
      await receiver.close();
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()) + receiver.received.map((r) => r.body).join('\n'));
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs, the database or any notification');
    });

    it('takes chunks, gives exactly one result per record (bad rows fail with their code, the rest go on) and notifies each record and the batch', async () => {
      const good = Array.from({ length: 20 }, (_, i) => ({ rowId: `g${i}`, fpan: cardOf(BINS[i % BINS.length]!, i), exp: '1234', accountId: `a${i}` }));
      const bad = [
        { rowId: 'luhn', fpan: BAD_LUHN, exp: '1234' },
        { rowId: 'expired', fpan: CARDS.visa, exp: '0120' },
        { rowId: 'amex-no-email', fpan: CARDS.amex, exp: '1234' },
        { rowId: 'lost', fpan: CARDS.lost, exp: '1234' },
      ];
      const first = await sendChunk(t, m, 'b-1', [...good.slice(0, 12), ...bad.slice(0, 2)], false, 'corr-batch-1');
      assert.equal(first.status, 202, first.text);
      assert.equal(first.body.status, 'RECEIVING');
      assert.equal(first.body.totalRecords, 14);
      assert.match(first.body.startedAt, ISO_MS);
      const second = await sendChunk(t, m, 'b-1', [...good.slice(12), ...bad.slice(2), { rowId: 'mc', fpan: CARDS.mastercard, exp: '1234' }], true);
      assert.equal(second.status, 202, second.text);
      assert.equal(second.body.totalRecords, 25);

      const done = await waitCompleted(t, m, 'b-1');
      assert.equal(done.processed, 25);
      assert.equal(done.succeeded, 21);
      assert.equal(done.failed, 4);
      assert.match(done.completedAt, ISO_MS);
      assert.ok(Date.parse(done.completedAt) >= Date.parse(done.startedAt));

      const results = await allResults(t, m, 'b-1', 5);
      assert.equal(results.length, 25);
      assert.equal(new Set(results.map((r) => r.rowId)).size, 25, 'one result per record');
      const byRow = new Map(results.map((r) => [r.rowId, r]));
      assert.equal(byRow.get('luhn').errorCode, 'invalid_number');
      assert.equal(byRow.get('expired').errorCode, 'card_expired');
      assert.equal(byRow.get('amex-no-email').errorCode, 'missing_email');
      assert.equal(byRow.get('lost').errorCode, 'lost_card');
      assert.equal(byRow.get('mc').tokenStatus, 'ACTIVE');
      assert.equal(byRow.get('g3').cardLastDigits, good[3]!.fpan.slice(-4));
      const token = await cof(t, m, 'GET', `/cof/v1/tokens/${byRow.get('g3').tokenId}`);
      assert.equal(token.status, 200);

      const notes = await eventually(async () => (receiver.received.length >= 26 ? receiver.received : undefined), 10_000, 'the notifications');
      const perRecord = notes.filter((n) => n.json.rowId !== undefined);
      assert.equal(perRecord.length, 25);
      assert.equal(new Set(perRecord.map((n) => n.json.rowId)).size, 25);
      const completed = notes.filter((n) => n.headers['x-correlation-id'] === 'corr-batch-1' && n.json.status === 'COMPLETED');
      assert.equal(completed.length, 1);
      assert.deepEqual({ ...completed[0]!.json }, { merchantId: m.id, batchId: 'b-1', status: 'COMPLETED', totalRecords: 25, succeeded: 21, failed: 4, startedAt: done.startedAt, completedAt: done.completedAt });
      const waiting = await t.deps.db.kysely.selectFrom('batch_records').select('id').where('card_ct', 'is not', null).execute();
      assert.equal(waiting.length, 0, 'every card is erased once its result is written');
    });

    it('refuses a chunk that does not decrypt, storing nothing', async () => {
      const res = await cof(t, m, 'POST', '/cof/v1/batches', { body: { merchantId: m.id, batchId: 'b-bad', last: true, encryptedData: 'a.b.c.d.e' } });
      assert.equal(res.status, 400);
      assert.ok(['invalid_encrypted_data', 'decryption_failed'].includes(res.body.errorCode), res.text);
      assert.equal((await cof(t, m, 'GET', '/cof/v1/batches/b-bad')).status, 404);
    });

    it('refuses more than 10,000 records, a repeated rowId (in a chunk or across chunks) and chunks after the last, storing none of the chunk', async () => {
      const many = Array.from({ length: 10_001 }, (_, i) => ({ rowId: `m${i}`, fpan: CARDS.visa, exp: '1234' }));
      const tooMany = await sendChunk(t, m, 'b-2', many, false);
      assert.equal(tooMany.status, 400);
      assert.equal(tooMany.body.errorCode, 'too_many_records');

      const dupInChunk = await sendChunk(t, m, 'b-2', [{ rowId: 'x', fpan: CARDS.visa, exp: '1234' }, { rowId: 'x', fpan: CARDS.visa, exp: '1234' }], false);
      assert.equal(dupInChunk.status, 400);
      assert.equal(dupInChunk.body.errorCode, 'duplicate_row_id');
      assert.equal((await cof(t, m, 'GET', '/cof/v1/batches/b-2')).status, 404, 'nothing stored');

      assert.equal((await sendChunk(t, m, 'b-2', [{ rowId: 'x', fpan: CARDS.visa, exp: '1234' }], false)).status, 202);
      const dupAcross = await sendChunk(t, m, 'b-2', [{ rowId: 'y', fpan: CARDS.visa, exp: '1234' }, { rowId: 'x', fpan: CARDS.visa, exp: '1234' }], true);
      assert.equal(dupAcross.status, 400);
      assert.equal(dupAcross.body.errorCode, 'duplicate_row_id');
      assert.doesNotMatch(dupAcross.text, /4242/);
      const status = await cof(t, m, 'GET', '/cof/v1/batches/b-2');
      assert.equal(status.body.totalRecords, 1, 'the refused chunk left nothing behind');
      assert.equal(status.body.status, 'RECEIVING');

      assert.equal((await sendChunk(t, m, 'b-2', [], true)).status, 202, 'an empty last chunk closes the batch');
      const afterLast = await sendChunk(t, m, 'b-2', [{ rowId: 'z', fpan: CARDS.visa, exp: '1234' }], false);
      assert.equal(afterLast.status, 409);
      assert.equal(afterLast.body.errorCode, 'batch_closed');
      await waitCompleted(t, m, 'b-2');
    });

    it("answers 404 for another merchant's batch, and refuses a merchantId that is not the caller's", async () => {
      assert.equal((await sendChunk(t, m, 'b-mine', [{ rowId: '1', fpan: CARDS.visa, exp: '1234' }], true)).status, 202);
      for (const url of ['/cof/v1/batches/b-mine', '/cof/v1/batches/b-mine/results']) {
        const res = await cof(t, other, 'GET', url);
        assert.equal(res.status, 404);
        assert.equal(res.body.errorCode, 'batch_not_found');
      }
      const encryptedData = await encryptToTessera(t, { records: [] });
      const res = await cof(t, other, 'POST', '/cof/v1/batches', { body: { merchantId: m.id, batchId: 'b-mine', last: true, encryptedData } });
      assert.equal(res.status, 404);
      assert.equal(res.body.errorCode, 'merchant_not_found');
    });

    it('refuses bad paging parameters and bad bodies with a 4xx and a stable code', async () => {
      assert.equal((await sendChunk(t, m, 'b-page', [{ rowId: '1', fpan: CARDS.visa, exp: '1234' }], true)).status, 202);
      for (const q of ['limit=0', 'limit=1001', 'limit=abc', 'cursor=nope', 'other=1']) {
        const res = await cof(t, m, 'GET', `/cof/v1/batches/b-page/results?${q}`);
        assert.equal(res.status, 400, q);
        assert.ok(res.body.errorCode, q);
      }
      const noLast = await cof(t, m, 'POST', '/cof/v1/batches', { body: { merchantId: m.id, batchId: 'b-x', encryptedData: 'x' } });
      assert.equal(noLast.status, 400);
      assert.equal(noLast.body.errorCode, 'missing_field');
      const badId = await cof(t, m, 'POST', '/cof/v1/batches', { body: { merchantId: m.id, batchId: 'no spaces', last: true, encryptedData: 'x' } });
      assert.equal(badId.status, 400);
      const noRowId = await sendChunk(t, m, 'b-y', [{ fpan: CARDS.visa, exp: '1234' }], true);
      assert.equal(noRowId.status, 400);
      assert.equal(noRowId.body.errorCode, 'invalid_field');
    });
  });
}
