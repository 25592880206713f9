import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { closeAndScan, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { startReceiver, verifySignature } from './support/cof.ts';
import { banking, createIssuer, personal, registerCard, type TestIssuer } from './support/issuer.ts';
import { listDeliveryAttempts, listDeliveries } from '../src/storage/repos/deliveries.ts';

const ENROL = (cardId: string) => `/cards/${cardId}/operations:clickToPayEnrolment`;

for (const engine of ENGINES) {
  describe(`Click to Pay enrolment (operations:clickToPayEnrolment) on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    const cardNotes = (operationId: string) =>
      receiver.received.filter((r) => r.url === `/notifications/d1/v2/issuers/${issuer.issuerId}/cards` && r.json.operations?.[0]?.operationId === operationId);
    const settled = (cardId: string, operationId: string) =>
      eventually(async () => {
        const op = (await banking(t, issuer, 'GET', `/cards/${cardId}/operations/${operationId}`)).body;
        return op.status === 'PENDING' ? undefined : op;
      });

    before(async () => {
      // The issuer's endpoint fails the first notification (500): it must be retried.
      receiver = await startReceiver([500]);
      t = await startInstance(engine);
      issuer = await createIssuer(t, { notifyUrl: receiver.url.replace(/\/notifications$/, '') + '/' });
      other = await createIssuer(t);
    });
    after(async () => {
      await receiver.close();
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('answers 202 PENDING at once, then SUCCESSFUL: profile created, card digitized, notified (signed, retried after a 500)', async () => {
      const { cardId, consumerId } = await registerCard(t, issuer, CARDS.visa);
      const res = await banking(t, issuer, 'POST', ENROL(cardId), { reason: 'customer asked', reasonCode: 'CUSTOMER_REQUEST' });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.status, 'PENDING');
      assert.equal(res.body.operation, 'CLICK_TO_PAY_ENROLMENT');
      assert.ok(!Number.isNaN(Date.parse(res.body.startTime)));
      const op = await settled(cardId, res.body.operationId);
      assert.equal(op.status, 'SUCCESSFUL');
      assert.ok(Date.parse(op.endTime) >= Date.parse(op.startTime));
      assert.equal(op.errorCode, undefined);

      const notes = await eventually(async () => (cardNotes(op.operationId).length >= 2 ? cardNotes(op.operationId) : undefined), 5000, 'retried notification');
      assert.equal(notes[0]!.headers['webhook-id'], notes[1]!.headers['webhook-id'], 'the same delivery, retried');
      assert.ok(verifySignature(issuer.webhookSecret, notes[1]!.headers, notes[1]!.body));
      assert.deepEqual(notes[1]!.json, { operations: [{ ...op, cardId }] });
      const deliveries = await listDeliveries(t.deps.db.kysely, `issuer:${issuer.issuerId}`);
      const attempts = await eventually(async () => {
        const rows = await listDeliveryAttempts(t.deps.db.kysely, deliveries[0]!.id);
        return rows.length === 2 ? rows : undefined;
      });
      assert.deepEqual(attempts.map((a) => a.status_code), [500, 200]);

      const card = (await banking(t, issuer, 'GET', `/cards/${cardId}`)).body;
      assert.equal(card.clickToPayStatus, 'ENROLLED');
      const tokens = (await banking(t, issuer, 'GET', `/cards/${cardId}/tokens`)).body.tokens;
      assert.deepEqual(tokens.map((x: { tokenType: string }) => x.tokenType), ['CLICK_TO_PAY']);
      const consumer = await t.deps.db.kysely.selectFrom('issuer_consumers').select('c2p_profile_at').where('id', '=', consumerId).executeTakeFirstOrThrow();
      assert.ok(consumer.c2p_profile_at !== null, 'the first enrolment created the profile');
    });

    it('is idempotent: enrolling an enrolled card returns its operation (200), no new token', async () => {
      const { cardId } = await registerCard(t, issuer, CARDS.mastercard);
      const first = await banking(t, issuer, 'POST', ENROL(cardId));
      const again = await banking(t, issuer, 'POST', ENROL(cardId));
      assert.equal(again.body.operationId, first.body.operationId, 'a pending enrolment is returned, not doubled');
      await settled(cardId, first.body.operationId);
      const done = await banking(t, issuer, 'POST', ENROL(cardId));
      assert.equal(done.status, 200);
      assert.equal(done.body.operationId, first.body.operationId);
      assert.equal(done.body.status, 'SUCCESSFUL');
      assert.equal((await banking(t, issuer, 'GET', `/cards/${cardId}/operations`)).body.operations.length, 1);
      assert.equal((await banking(t, issuer, 'GET', `/cards/${cardId}/tokens`)).body.tokens.length, 1);
    });

    it('concurrent enrolment requests for one card share one operation and one token', async () => {
      const { cardId } = await registerCard(t, issuer, CARDS.visa);
      const answers = await Promise.all(Array.from({ length: 6 }, () => banking(t, issuer, 'POST', ENROL(cardId))));
      assert.equal(new Set(answers.map((a) => a.body.operationId)).size, 1);
      await settled(cardId, answers[0]!.body.operationId);
      assert.equal((await banking(t, issuer, 'GET', `/cards/${cardId}/operations`)).body.operations.length, 1);
      assert.equal((await banking(t, issuer, 'GET', `/cards/${cardId}/tokens`)).body.tokens.length, 1);
    });

    it('a second card of an enrolled consumer is only added (the profile keeps its first creation time)', async () => {
      const { cardId, consumerId } = await registerCard(t, issuer, CARDS.amex);
      await settled(cardId, (await banking(t, issuer, 'POST', ENROL(cardId))).body.operationId);
      const row = () => t.deps.db.kysely.selectFrom('issuer_consumers').select('c2p_profile_at').where('id', '=', consumerId).executeTakeFirstOrThrow();
      const created = (await row()).c2p_profile_at;
      const second = await registerCard(t, issuer, CARDS.discover, { consumerId, personal: personal() });
      const op = await settled(second.cardId, (await banking(t, issuer, 'POST', ENROL(second.cardId))).body.operationId);
      assert.equal(op.status, 'SUCCESSFUL');
      assert.equal((await row()).c2p_profile_at, created);
    });

    it('FAILS with consumer_contact_required when the consumer has no email or phone; can retry once fixed', async () => {
      const { cardId, consumerId } = await registerCard(t, issuer, CARDS.mastercardRef, { personal: { firstName: 'No', lastName: 'Phone', email: 'np@example.com' } });
      const res = await banking(t, issuer, 'POST', ENROL(cardId));
      assert.equal(res.status, 202);
      const op = await settled(cardId, res.body.operationId);
      assert.equal(op.status, 'FAILED');
      assert.equal(op.errorCode, 'consumer_contact_required');
      const [note] = await eventually(async () => (cardNotes(op.operationId).length ? cardNotes(op.operationId) : undefined));
      assert.equal(note!.json.operations[0].errorCode, 'consumer_contact_required');
      await banking(t, issuer, 'PUT', `/consumers/${consumerId}`, { personalInformation: personal() });
      const retry = await banking(t, issuer, 'POST', ENROL(cardId));
      assert.notEqual(retry.body.operationId, op.operationId);
      assert.equal((await settled(cardId, retry.body.operationId)).status, 'SUCCESSFUL');
    });

    it('FAILS with the network decline for a card the issuer refuses to digitize', async () => {
      const { cardId } = await registerCard(t, issuer, CARDS.lost);
      const op = await settled(cardId, (await banking(t, issuer, 'POST', ENROL(cardId))).body.operationId);
      assert.equal(op.status, 'FAILED');
      assert.equal(op.errorCode, 'lost_card');
    });

    it("refuses bad input and other issuers' cards and operations (404, never 403)", async () => {
      const { cardId } = await registerCard(t, issuer, CARDS.visa);
      const op = (await banking(t, issuer, 'POST', ENROL(cardId))).body;
      assert.equal((await banking(t, other, 'POST', ENROL(cardId))).status, 404);
      assert.equal((await banking(t, other, 'GET', `/cards/${cardId}/operations`)).status, 404);
      const foreign = await banking(t, other, 'GET', `/cards/${cardId}/operations/${op.operationId}`);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.errorCode, 'operation_not_found');
      const unknown = await banking(t, issuer, 'POST', ENROL('no-such-card'));
      assert.equal(unknown.body.errorCode, 'card_not_found');
      const extra = await banking(t, issuer, 'POST', ENROL(cardId), { bulk: [1, 2] });
      assert.equal(extra.status, 400);
      assert.equal(extra.body.errorCode, 'unknown_field');
      const wrongAction = await banking(t, issuer, 'POST', `/cards/${cardId}/operations:somethingElse`);
      assert.equal(wrongAction.status, 404);
      assert.equal(wrongAction.body.errorCode, 'route_not_found');
    });

    it('survives a crash: a PENDING enrolment committed before the worker ran completes after a restart', async () => {
      const { cardId } = await registerCard(t, issuer, CARDS.visa);
      await t.deps.worker.stop();
      const res = await banking(t, issuer, 'POST', ENROL(cardId));
      t = await t.restart();
      const op = await settled(cardId, res.body.operationId);
      assert.equal(op.status, 'SUCCESSFUL');
    });
  });
}
