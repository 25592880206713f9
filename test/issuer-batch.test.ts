import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { banking, createIssuer, personal, signingKeyPair, type TestIssuer } from './support/issuer.ts';
import { batchRecord, signedBatch } from './support/batch.ts';
import { insertBatch } from '../src/storage/repos/issuer-batches.ts';
import { STALE_CLAIM_MS } from '../src/services/batch-inbox.ts';

const BAD_LUHN = '4242424242424241';

for (const engine of ENGINES) {
  describe(`issuer batch files (POST /banking/v1/issuers/:issuerId/batch-files) on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;
    const inbox = mkdtempSync(join(tmpdir(), 'tessera-inbox-'));

    const send = (doc: unknown, who: TestIssuer = issuer) => banking(t, who, 'POST', '/batch-files', doc);
    const drain = () => t.deps.worker.drain();

    before(async () => {
      // The worker is driven by hand (drain) so progress can be observed before completion.
      t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off', TESSERA_BATCH_INBOX: inbox, TESSERA_BATCH_INBOX_POLL_MS: '20' });
      issuer = await createIssuer(t);
      other = await createIssuer(t);
    });
    after(async () => {
      rmSync(inbox, { recursive: true, force: true });
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('registers consumers and cards with auto-enrolment; KO rows do not stop the rest; output only once complete', async () => {
      const records = [
        await batchRecord(t, 'r1', 'b-ada', [{ cardId: 'b-ada-1', pan: CARDS.visa }, { cardId: 'b-ada-2', pan: CARDS.mastercard }]),
        await batchRecord(t, 'r2', 'b-bob', [{ cardId: 'b-bob-1', pan: BAD_LUHN }, { cardId: 'b-bob-2', pan: CARDS.amex }]),
        { rowId: 'r3', consumerAndCardRegistrationRequest: { consumerId: 'b-eve', personalInformation: { firstName: 'Eve' }, cards: [] } },
        await batchRecord(t, 'r4', 'b-nophone', [{ cardId: 'b-np-1', pan: CARDS.discover }], { firstName: 'No', lastName: 'Phone', email: 'np@example.com' }),
        await batchRecord(t, 5, 'b-lost', [{ cardId: 'b-lost-1', pan: CARDS.lost }]),
      ];
      const doc = await signedBatch(issuer, { batchId: 'B1', seqNumber: 1, issuerId: issuer.issuerId, clickToPayAutoEnrolment: true }, records);
      const res = await send(doc);
      assert.equal(res.status, 202, res.text);
      assert.deepEqual({ ...res.body, createdAt: undefined }, {
        batchId: 'B1', seqNumber: 1, status: 'PROCESSING', totalRecords: 5, processedRecords: 0, koRecords: 0, clickToPayAutoEnrolment: true, createdAt: undefined,
      });
      const early = await banking(t, issuer, 'GET', '/batch-files/B1/output');
      assert.equal(early.status, 409);
      assert.equal(early.body.errorCode, 'batch_not_ready');

      await drain();
      const status = (await banking(t, issuer, 'GET', '/batch-files/B1')).body;
      assert.equal(status.status, 'COMPLETED');
      assert.equal(status.processedRecords, 5);
      assert.equal(status.koRecords, 2);

      const out = await banking(t, issuer, 'GET', '/batch-files/B1/output');
      assert.equal(out.status, 200, out.text);
      assert.deepEqual(out.body.header, { batchId: 'B1', seqNumber: 1, issuerId: issuer.issuerId, operation: 'CONSUMER_CARD_REGISTRATION', clickToPayAutoEnrolment: true, totalRecords: 5, errorCode: null });
      const [r1, r2, r3, r4, r5] = out.body.recordsResults.map((r: { consumerCardRegistrationResult: unknown }) => r.consumerCardRegistrationResult);
      assert.deepEqual(out.body.recordsResults.map((r: { rowId: unknown }) => r.rowId), ['r1', 'r2', 'r3', 'r4', 5]);
      assert.deepEqual(r1, { consumerId: 'b-ada', consumerStatus: 'OK', cards: [{ cardId: 'b-ada-1', status: 'OK', clickToPayEnrolment: 'SUCCESSFUL' }, { cardId: 'b-ada-2', status: 'OK', clickToPayEnrolment: 'SUCCESSFUL' }] });
      assert.deepEqual(r2.cards[0], { cardId: 'b-bob-1', status: 'KO', errorCode: 'invalid_number' });
      assert.equal(r2.cards[1].status, 'OK');
      assert.deepEqual(r3, { consumerId: 'b-eve', consumerStatus: 'KO', cards: [], consumerError: { errorCode: 'missing_field', field: 'consumerAndCardRegistrationRequest.personalInformation.lastName' } });
      assert.deepEqual(r4.cards[0], { cardId: 'b-np-1', status: 'OK', clickToPayEnrolment: 'FAILED', clickToPayErrorCode: 'consumer_contact_required' });
      assert.deepEqual(r5.cards[0], { cardId: 'b-lost-1', status: 'OK', clickToPayEnrolment: 'FAILED', clickToPayErrorCode: 'lost_card' });
      assert.ok(!out.text.includes(CARDS.visa) && !out.text.includes(BAD_LUHN));

      const card = (await banking(t, issuer, 'GET', '/cards/b-ada-2')).body;
      assert.equal(card.clickToPayStatus, 'ENROLLED');
      assert.equal(card.cardLastDigits, '4444');
      assert.equal((await banking(t, issuer, 'GET', '/cards/b-bob-1')).status, 404, 'a KO card is not registered');
      assert.equal((await banking(t, issuer, 'GET', '/cards/b-np-1')).body.clickToPayStatus, 'NOT_ENROLLED');
      const stored = await t.deps.db.kysely.selectFrom('issuer_batch_records').select('request_ct').where('request_ct', 'is not', null).execute();
      assert.equal(stored.length, 0, 'processed requests are erased');
    });

    it('refuses a file whose signature does not verify, before touching any record', async () => {
      const doc = await signedBatch(issuer, { batchId: 'B2', seqNumber: 1, issuerId: issuer.issuerId }, [await batchRecord(t, 1, 'b2-c', [{ cardId: 'b2-card', pan: CARDS.visa }])]);
      (doc.records[0] as { rowId: unknown }).rowId = 2; // altered after signing
      const altered = await send(doc);
      assert.equal(altered.status, 400, altered.text);
      assert.equal(altered.body.errorCode, 'invalid_signature');
      const stranger = await signingKeyPair();
      const wrongKey = await send(await signedBatch(issuer, { batchId: 'B2', seqNumber: 1, issuerId: issuer.issuerId }, [], { key: stranger.privateKey }));
      assert.equal(wrongKey.body.errorCode, 'invalid_signature');
      const unknownKid = await send(await signedBatch(issuer, { batchId: 'B2', seqNumber: 1, issuerId: issuer.issuerId }, [], { key: stranger.privateKey, kid: stranger.kid }));
      assert.equal(unknownKid.body.errorCode, 'invalid_signature');
      assert.equal((await banking(t, issuer, 'GET', '/batch-files/B2')).status, 404);
      await drain();
      assert.equal((await banking(t, issuer, 'PUT', '/cards/b2-card', { consumerId: 'b2-c', encryptedData: 'x.y.z.w.v' })).body.errorCode, 'consumer_not_found', 'no consumer was written');
    });

    it('accepts an unencoded-payload signature (RFC 7797 b64: false)', async () => {
      const res = await send(await signedBatch(issuer, { batchId: 'B3', seqNumber: 1, issuerId: issuer.issuerId }, [await batchRecord(t, 1, 'b3-c', [])], { b64: false }));
      assert.equal(res.status, 202, res.text);
    });

    it('refuses a duplicate batchId + seqNumber (409), accepts the next seqNumber', async () => {
      const dup = await send(await signedBatch(issuer, { batchId: 'B3', seqNumber: 1, issuerId: issuer.issuerId }, []));
      assert.equal(dup.status, 409);
      assert.equal(dup.body.errorCode, 'batch_duplicate');
      assert.equal((await send(await signedBatch(issuer, { batchId: 'B3', seqNumber: 2, issuerId: issuer.issuerId }, []))).status, 202);
      await drain();
      assert.equal((await banking(t, issuer, 'GET', '/batch-files/B3')).body.seqNumber, 2);
      assert.equal((await banking(t, issuer, 'GET', '/batch-files/B3?seqNumber=1')).body.totalRecords, 1);
    });

    it('lets a file be sent again when its earlier intake died mid-way (stale RECEIVING), not while one is under way', async () => {
      const row = (batchId: string, createdAt: number) => ({
        issuer_id: issuer.issuerId, batch_id: batchId, seq_number: 1, operation: 'CONSUMER_CARD_REGISTRATION', auto_enrolment: 0, status: 'RECEIVING',
        total_records: 1, processed_records: 0, ko_records: 0, out_path: null, created_at: createdAt, completed_at: null,
      });
      await insertBatch(t.deps.db.kysely, row('CRASHED', Date.now() - 20 * 60_000));
      await insertBatch(t.deps.db.kysely, row('BUSY', Date.now()));
      assert.equal((await banking(t, issuer, 'GET', '/batch-files/CRASHED')).status, 404, 'an unfinished intake is not shown');
      const again = await send(await signedBatch(issuer, { batchId: 'CRASHED', seqNumber: 1, issuerId: issuer.issuerId }, []));
      assert.equal(again.status, 202, again.text);
      const busy = await send(await signedBatch(issuer, { batchId: 'BUSY', seqNumber: 1, issuerId: issuer.issuerId }, []));
      assert.equal(busy.status, 409);
    });

    it("keeps issuers apart: another issuer's header is refused, their batches are 404", async () => {
      const foreign = await send(await signedBatch(issuer, { batchId: 'B4', seqNumber: 1, issuerId: other.issuerId }, []));
      assert.equal(foreign.status, 400);
      assert.equal(foreign.body.field, 'header.issuerId');
      assert.equal((await banking(t, other, 'GET', '/batch-files/B1')).status, 404);
      assert.equal((await banking(t, other, 'GET', '/batch-files/B1/output')).status, 404);
    });

    it('refuses malformed files with a clear 400', async () => {
      const notJson = await call(t, `Bearer ${issuer.token}`, 'POST', `/banking/v1/issuers/${issuer.issuerId}/batch-files`, { raw: '{"header": {', headers: { 'content-type': 'application/json' } });
      assert.equal(notJson.status, 400);
      assert.equal(notJson.body.errorCode, 'invalid_json');
      const noSig = await send({ header: { batchId: 'B5', seqNumber: 1, issuerId: issuer.issuerId, operation: 'CONSUMER_CARD_REGISTRATION' }, records: [] });
      assert.equal(noSig.body.errorCode, 'missing_field');
      const badOp = await send(await signedBatch(issuer, { batchId: 'B5', seqNumber: 1, issuerId: issuer.issuerId, operation: 'DELETE_EVERYTHING' }, []));
      assert.equal(badOp.body.field, 'header.operation');
      const extra = await send({ ...(await signedBatch(issuer, { batchId: 'B5', seqNumber: 1, issuerId: issuer.issuerId }, [])), more: 1 });
      assert.equal(extra.body.errorCode, 'unknown_field');
    });

    it('holds the per-issuer records/second cap', async () => {
      const slow = await createIssuer(t, { recordsPerSecond: 20 });
      const records = [];
      for (let i = 0; i < 30; i++) records.push(await batchRecord(t, i, `slow-${i}`, [], personal()));
      assert.equal((await send(await signedBatch(slow, { batchId: 'S1', seqNumber: 1, issuerId: slow.issuerId }, records), slow)).status, 202);
      const t0 = Date.now();
      await drain();
      assert.ok(Date.now() - t0 >= 400, `30 records at 20/s take at least half a second (took ${Date.now() - t0} ms)`);
      assert.equal((await banking(t, slow, 'GET', '/batch-files/S1')).body.processedRecords, 30);
    });

    it('answers drop-folder files with …_OUT.json: the output once processed, the reason when refused', async () => {
      const good = await signedBatch(issuer, { batchId: 'D1', seqNumber: 7, issuerId: issuer.issuerId }, [await batchRecord(t, 'd1', 'drop-c', [{ cardId: 'drop-card', pan: CARDS.visa }])]);
      writeFileSync(join(inbox, `${issuer.issuerId}-D1-7-1700000000.json`), JSON.stringify(good));
      const bad = { ...(await signedBatch(issuer, { batchId: 'D2', seqNumber: 1, issuerId: issuer.issuerId }, [])), signature: good.signature };
      writeFileSync(join(inbox, `D2-1-1700000001.json`), JSON.stringify(bad));
      await eventually(async () => {
        await drain();
        return existsSync(join(inbox, `${issuer.issuerId}-D1-7-1700000000_OUT.json`)) && existsSync(join(inbox, 'D2-1-1700000001_OUT.json')) ? true : undefined;
      }, 10_000, 'both answers');
      const out = JSON.parse(readFileSync(join(inbox, `${issuer.issuerId}-D1-7-1700000000_OUT.json`), 'utf8'));
      assert.equal(out.header.totalRecords, 1);
      assert.equal(out.recordsResults[0].consumerCardRegistrationResult.cards[0].status, 'OK');
      const refused = JSON.parse(readFileSync(join(inbox, 'D2-1-1700000001_OUT.json'), 'utf8'));
      assert.equal(refused.header.errorCode, 'invalid_signature');
      assert.deepEqual(refused.recordsResults, []);
      assert.ok(existsSync(join(inbox, `${issuer.issuerId}-D1-7-1700000000.json.done`)));
    });

    it('takes back a file a process claimed and then died on: re-done if its intake was lost, never answered twice', async () => {
      const old = new Date(Date.now() - STALE_CLAIM_MS - 60_000);
      // A claim whose intake never happened: it is processed after all.
      const lost = await signedBatch(issuer, { batchId: 'D3', seqNumber: 1, issuerId: issuer.issuerId }, [await batchRecord(t, 'd3', 'drop-c3', [{ cardId: 'drop-card-3', pan: CARDS.mastercard }])]);
      const lostName = `${issuer.issuerId}-D3-1-1700000002.json`;
      writeFileSync(join(inbox, `${lostName}.processing`), JSON.stringify(lost));
      utimesSync(join(inbox, `${lostName}.processing`), old, old);
      // A claim whose intake was stored before the crash: taken back, found, not refused.
      const stored = await signedBatch(issuer, { batchId: 'D4', seqNumber: 1, issuerId: issuer.issuerId }, [await batchRecord(t, 'd4', 'drop-c4', [{ cardId: 'drop-card-4', pan: CARDS.visa }])]);
      assert.equal((await send(stored)).status, 202);
      const storedName = `${issuer.issuerId}-D4-1-1700000003.json`;
      writeFileSync(join(inbox, `${storedName}.processing`), JSON.stringify(stored));
      utimesSync(join(inbox, `${storedName}.processing`), old, old);
      // A fresh claim (another process is working on it) is left alone.
      const busyName = `${issuer.issuerId}-D5-1-1700000004.json`;
      writeFileSync(join(inbox, `${busyName}.processing`), '{}');

      await eventually(async () => {
        await drain();
        return existsSync(join(inbox, `${lostName.slice(0, -5)}_OUT.json`)) && existsSync(join(inbox, `${storedName}.done`)) ? true : undefined;
      }, 10_000, 'the stale claims to be taken back');
      const out = JSON.parse(readFileSync(join(inbox, `${lostName.slice(0, -5)}_OUT.json`), 'utf8'));
      assert.equal(out.header.errorCode, null);
      assert.equal(out.recordsResults[0].consumerCardRegistrationResult.cards[0].status, 'OK');
      assert.ok(!existsSync(join(inbox, `${storedName.slice(0, -5)}_OUT.json`)), 'no batch_duplicate refusal for a file already taken in');
      assert.ok(existsSync(join(inbox, `${busyName}.processing`)), 'a live claim is not taken');
    });
  });
}
