import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testCard } from '../src/sandbox/test-cards.ts';
import { CARDS, findPans, TEST_PANS } from './support/cards.ts';
import { ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, startReceiver, verifySignature, type CofMerchant } from './support/cof.ts';

const TSP_TIMEOUT = testCard('400000', '504', 16);
const SUSPENDED_LATER = testCard('400000', '777', 16);
TEST_PANS.push(TSP_TIMEOUT, SUSPENDED_LATER);

async function deliveries(t: Instance, merchantId: string) {
  return t.deps.db.kysely.selectFrom('deliveries').selectAll().where('merchant_id', '=', merchantId).orderBy('created_at').execute();
}
async function attempts(t: Instance, deliveryId: string) {
  return t.deps.db.kysely.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}

for (const engine of ENGINES) {
  describe(`async tokens and notifications on ${engine}`, () => {
    let t: Instance;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let m: CofMerchant;

    const tokenBody = async (merchant: CofMerchant, payload: unknown) => ({
      merchantId: merchant.id,
      encryptedData: await encryptToTessera(t, payload),
      source: 'MANUAL',
    });

    before(async () => {
      t = await startInstance(engine, { TESSERA_RETRY_MAX_ATTEMPTS: '3' });
      receiver = await startReceiver();
      m = await createCofMerchant(t, { notificationUrl: receiver.url });
    });
    after(async () => {
      await receiver.close();
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()) + receiver.received.map((r) => r.body).join('\n'));
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs, the database or any notification');
    });

    it('accepts an async request with 202, then notifies the token, signed, with the original correlation id', async () => {
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(m, cardPayload(CARDS.visa)), correlationId: 'batch-7-row-1' });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(Object.keys(res.body), ['requestId']);
      const { requestId } = res.body;
      const note = await eventually(async () => receiver.received.find((r) => r.json.requestId === requestId), 5000, 'the notification');
      assert.equal(note.headers['x-correlation-id'], 'batch-7-row-1');
      assert.ok(verifySignature(m.webhookSecret, note.headers, note.body), 'Standard Webhooks signature verifies');
      assert.ok(!verifySignature('whsec_' + Buffer.alloc(24).toString('base64'), note.headers, note.body));
      assert.match(String(note.headers['webhook-id']), /^msg_/);
      assert.ok(Math.abs(Number(note.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
      assert.equal(note.json.merchantId, m.id);
      assert.equal(note.json.tokenStatus, 'ACTIVE');
      assert.equal(note.json.cardLastDigits, '4242');
      for (const f of ['tokenId', 'cardExpiryDate', 'tokenLastDigits', 'tokenExpiryDate', 'par']) assert.ok(note.json[f], f);
      const read = await cof(t, m, 'GET', `/cof/v1/async-tokens/${requestId}`);
      assert.equal(read.status, 200);
      assert.deepEqual(read.body, { ...note.json, requestStatus: 'SUCCEEDED' });
      const token = await cof(t, m, 'GET', `/cof/v1/tokens/${note.json.tokenId}`);
      assert.equal(token.body.par, note.json.par);
      const row = await t.deps.db.kysely.selectFrom('network_token_requests').selectAll().where('id', '=', requestId).executeTakeFirstOrThrow();
      assert.equal(row.payload_ct, null, 'the waiting card is erased once processed');
    });

    it('notifies a failure with only requestId, merchantId, errorCode and message', async () => {
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(m, cardPayload(CARDS.lost)) });
      const note = await eventually(async () => receiver.received.find((r) => r.json.requestId === res.body.requestId), 5000, 'the failure');
      assert.deepEqual(Object.keys(note.json).sort(), ['errorCode', 'merchantId', 'message', 'requestId']);
      assert.equal(note.json.errorCode, 'lost_card');
      const read = await cof(t, m, 'GET', `/cof/v1/async-tokens/${res.body.requestId}`);
      assert.equal(read.body.requestStatus, 'FAILED');
    });

    it('retries a TSP timeout in the background, then notifies tsp_unavailable', async () => {
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(m, cardPayload(TSP_TIMEOUT)) });
      const note = await eventually(async () => receiver.received.find((r) => r.json.requestId === res.body.requestId), 10_000, 'the failure');
      assert.equal(note.json.errorCode, 'tsp_unavailable');
    });

    it("another merchant's requestId is not found", async () => {
      const other = await createCofMerchant(t, { name: 'Other' });
      const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(m, cardPayload(CARDS.visa)) });
      const read = await cof(t, other, 'GET', `/cof/v1/async-tokens/${res.body.requestId}`);
      assert.equal(read.status, 404);
      assert.equal(read.body.errorCode, 'request_not_found');
    });

    it('retries 500 and 429 with backoff, keeping the webhook-id, until delivered; every attempt recorded', async () => {
      const flaky = await startReceiver([500, 429]);
      try {
        const own = await createCofMerchant(t, { name: 'Flaky', notificationUrl: flaky.url });
        await cof(t, own, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(own, cardPayload(CARDS.mastercard)) });
        const [d] = await eventually(async () => {
          const rows = await deliveries(t, own.id);
          return rows[0]?.status === 'delivered' ? rows : undefined;
        }, 10_000, 'delivery');
        const mine = flaky.received;
        assert.equal(mine.length, 3);
        assert.equal(new Set(mine.map((r) => r.headers['webhook-id'])).size, 1);
        assert.ok(mine[1]!.at - mine[0]!.at >= 20, 'the first retry waits at least TESSERA_RETRY_BASE_MS');
        assert.ok(mine[2]!.at - mine[1]!.at >= 40, 'then doubles');
        for (const r of mine) assert.ok(verifySignature(own.webhookSecret, r.headers, r.body));
        const log = await attempts(t, d!.id);
        assert.deepEqual(log.map((a) => [a.status_code, a.outcome]), [[500, 'retry'], [429, 'retry'], [200, 'delivered']]);
        assert.equal(d!.attempts, 3);
      } finally {
        await flaky.close();
      }
    });

    it('does not retry a 400: the delivery is dead after one attempt, with its error', async () => {
      const strict = await startReceiver([400, 400]);
      try {
        const own = await createCofMerchant(t, { name: 'Strict', notificationUrl: strict.url });
        await cof(t, own, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(own, cardPayload(CARDS.mastercard)) });
        const [d] = await eventually(async () => {
          const rows = await deliveries(t, own.id);
          return rows[0]?.status === 'dead' ? rows : undefined;
        }, 5000, 'dead delivery');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(strict.received.length, 1);
        assert.equal((await attempts(t, d!.id)).length, 1);
        assert.equal(d!.last_status, 400);
        assert.match(d!.last_error ?? '', /400.*not retried/);
      } finally {
        await strict.close();
      }
    });

    it('keeps a delivery as dead with its last error after TESSERA_RETRY_MAX_ATTEMPTS refused connections', async () => {
      const gone = await startReceiver();
      await gone.close();
      const lonely = await createCofMerchant(t, { name: 'Offline', notificationUrl: gone.url });
      await cof(t, lonely, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(lonely, cardPayload(CARDS.visa)) });
      const [d] = await eventually(async () => {
        const rows = await deliveries(t, lonely.id);
        return rows[0]?.status === 'dead' ? rows : undefined;
      }, 10_000, 'dead delivery');
      assert.equal(d!.attempts, 3);
      assert.equal(d!.last_error, 'connection refused');
      assert.deepEqual((await attempts(t, d!.id)).map((a) => a.outcome), ['retry', 'retry', 'dead']);
      const jobs = await t.deps.db.kysely.selectFrom('jobs').selectAll().where('task', '=', 'notifications.deliver').execute();
      assert.equal(jobs.length, 0, 'nothing left queued');
    });

    it('PATCH /cof/v1/merchants/:id moves notifications to a new URL; only for the caller', async () => {
      const second = await startReceiver();
      try {
        const patched = await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { notificationUrl: second.url } });
        assert.equal(patched.status, 200, patched.text);
        assert.equal(patched.body.notificationUrl, second.url);
        const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await tokenBody(m, cardPayload(CARDS.visa)) });
        await eventually(async () => second.received.find((r) => r.json.requestId === res.body.requestId), 5000, 'the new URL');
        const other = await createCofMerchant(t, { name: 'Nosy' });
        const denied = await cof(t, other, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { notificationUrl: 'http://127.0.0.1:1/x' } });
        assert.equal(denied.status, 404);
        assert.equal(denied.body.errorCode, 'merchant_not_found');
        const bad = await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { notificationUrl: 'ftp://example.com' } });
        assert.equal(bad.status, 400);
      } finally {
        await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { notificationUrl: receiver.url } });
        await second.close();
      }
    });
  });

  describe(`token lifecycle and its notifications on ${engine}`, () => {
    let t: Instance;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let m: CofMerchant;

    const createToken = async (pan: string, extra: Record<string, unknown> = {}) => {
      const res = await cof(t, m, 'POST', '/cof/v1/tokens', {
        body: { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(pan, extra)), source: 'MANUAL' },
      });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const notesFor = (tokenId: string) => receiver.received.filter((r) => r.json.tokenId === tokenId);

    before(async () => {
      t = await startInstance(engine, { TESSERA_SANDBOX_SUSPEND_LATER_MS: '50' });
      receiver = await startReceiver();
      m = await createCofMerchant(t, { notificationUrl: receiver.url });
    });
    after(async () => {
      await receiver.close();
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()));
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs or the database');
    });

    it('suspends, resumes and deletes, notifying each change once with the request correlation id', async () => {
      const token = await createToken(CARDS.mastercard);
      const s = await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/suspend`, { correlationId: 'sus-1' });
      assert.equal(s.status, 200);
      assert.equal(s.body.tokenStatus, 'SUSPENDED');
      const again = await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/suspend`, { correlationId: 'sus-2' });
      assert.equal(again.body.tokenStatus, 'SUSPENDED');
      const r = await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/resume`, { correlationId: 'res-1' });
      assert.equal(r.body.tokenStatus, 'ACTIVE');
      const d = await cof(t, m, 'DELETE', `/cof/v1/tokens/${token.tokenId}`, { correlationId: 'del-1' });
      assert.equal(d.body.tokenStatus, 'DELETED');
      const notes = await eventually(async () => (notesFor(token.tokenId).length >= 3 ? notesFor(token.tokenId) : undefined), 5000, 'three notifications');
      await new Promise((res) => setTimeout(res, 100));
      // Each change is its own delivery job: delivery order is not guaranteed, each change arrives once.
      assert.deepEqual(
        notesFor(token.tokenId).map((n) => [n.json.tokenStatus, n.headers['x-correlation-id']]).sort(),
        [['ACTIVE', 'res-1'], ['DELETED', 'del-1'], ['SUSPENDED', 'sus-1']],
      );
      for (const n of notes) assert.ok(verifySignature(m.webhookSecret, n.headers, n.body));
      const resume = await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/resume`);
      assert.equal(resume.status, 409);
      assert.equal(resume.body.errorCode, 'token_inactive');
      const get = await cof(t, m, 'GET', `/cof/v1/tokens/${token.tokenId}`);
      assert.equal(get.body.tokenStatus, 'DELETED');
      const row = await t.deps.db.kysely.selectFrom('network_tokens').selectAll().where('id', '=', token.tokenId).executeTakeFirstOrThrow();
      assert.equal(row.card_ct, null, 'a deleted token keeps no card data');
    });

    it('a deleted Visa token is not handed out again: the same card gets a new one', async () => {
      const a = await createToken(CARDS.visa, { accountId: 'again' });
      await cof(t, m, 'DELETE', `/cof/v1/tokens/${a.tokenId}`);
      const b = await createToken(CARDS.visa, { accountId: 'again' });
      assert.notEqual(a.tokenId, b.tokenId);
      assert.equal(b.tokenStatus, 'ACTIVE');
    });

    it('the issuer suspends the tokens of a card reported lost (notified), which the merchant cannot resume, until found', async () => {
      const token = await createToken(CARDS.discover);
      const lost = await cof(t, m, 'POST', '/sandbox/v1/issuer-events', { body: { par: token.par, event: 'CARD_LOST' } });
      assert.equal(lost.status, 200, lost.text);
      assert.ok(lost.body.tokensAffected >= 1);
      const note = await eventually(async () => notesFor(token.tokenId).find((n) => n.json.tokenStatus === 'SUSPENDED'), 5000, 'suspension notice');
      assert.equal(note.json.reason, 'CARD_LOST');
      assert.ok(note.headers['x-correlation-id']);
      const resume = await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/resume`);
      assert.equal(resume.status, 409);
      await cof(t, m, 'POST', '/sandbox/v1/issuer-events', { body: { par: token.par, event: 'CARD_FOUND' } });
      await eventually(async () => notesFor(token.tokenId).find((n) => n.json.tokenStatus === 'ACTIVE'), 5000, 'reactivation notice');
      assert.equal((await cof(t, m, 'GET', `/cof/v1/tokens/${token.tokenId}`)).body.tokenStatus, 'ACTIVE');
    });

    it('a re-issued card updates cardExpiryDate on its tokens, notified', async () => {
      const token = await createToken(CARDS.mastercardRef);
      await cof(t, m, 'POST', '/sandbox/v1/issuer-events', { body: { par: token.par, event: 'CARD_REISSUED', cardExpiryDate: '0939' } });
      const note = await eventually(async () => notesFor(token.tokenId).find((n) => n.json.cardExpiryDate === '0939'), 5000, 'expiry update');
      assert.equal(note.json.tokenStatus, 'ACTIVE');
      assert.equal(note.json.reason, 'CARD_REISSUED');
      assert.equal((await cof(t, m, 'GET', `/cof/v1/tokens/${token.tokenId}`)).body.cardExpiryDate, '0939');
    });

    it('a suspended_later test card gets an ACTIVE token that the issuer suspends shortly after (notified)', async () => {
      const token = await createToken(SUSPENDED_LATER);
      assert.equal(token.tokenStatus, 'ACTIVE');
      const note = await eventually(async () => notesFor(token.tokenId).find((n) => n.json.tokenStatus === 'SUSPENDED'), 5000, 'issuer suspension');
      assert.equal(note.json.reason, 'ISSUER_SUSPENDED');
    });

    it("another merchant's tokenId is not found, for every lifecycle call", async () => {
      const token = await createToken(CARDS.mastercard);
      const other = await createCofMerchant(t, { name: 'Other' });
      for (const [method, url] of [
        ['GET', `/cof/v1/tokens/${token.tokenId}`],
        ['POST', `/cof/v1/tokens/${token.tokenId}/suspend`],
        ['POST', `/cof/v1/tokens/${token.tokenId}/resume`],
        ['DELETE', `/cof/v1/tokens/${token.tokenId}`],
      ] as const) {
        const res = await cof(t, other, method, url);
        assert.equal(res.status, 404, `${method} ${url}`);
        assert.equal(res.body.errorCode, 'token_not_found');
      }
      assert.equal((await cof(t, m, 'GET', `/cof/v1/tokens/${token.tokenId}`)).body.tokenStatus, 'ACTIVE');
    });
  });

  describe(`notification delivery across a restart on ${engine}`, () => {
    it('a notification committed before a crash is delivered by the next process', async () => {
      let t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
      const receiver = await startReceiver();
      try {
        const m = await createCofMerchant(t, { notificationUrl: receiver.url });
        const res = await cof(t, m, 'POST', '/cof/v1/async-tokens', {
          body: { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'MANUAL' },
          correlationId: 'before-crash',
        });
        assert.equal(res.status, 202);
        assert.equal(receiver.received.length, 0);
        t = await t.restart({});
        const note = await eventually(async () => receiver.received[0], 5000, 'delivery after restart');
        assert.equal(note.json.requestId, res.body.requestId);
        assert.equal(note.headers['x-correlation-id'], 'before-crash');
      } finally {
        await receiver.close();
        await t.close();
      }
    });
  });
}
