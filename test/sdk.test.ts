import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { exportJWK, generateKeyPair } from 'jose';
import { closeAndScan, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { listen } from './support/browser.ts';
import { startReceiver } from './support/cof.ts';
import { personal, signingKeyPair } from './support/issuer.ts';
import { CARDS } from './support/cards.ts';
import {
  IssuerClient,
  MerchantClient,
  NetworkTokenClient,
  TesseraApiError,
  TesseraNetworkError,
  TesseraSignatureError,
  decryptCredentials,
  decryptIssuerCredentials,
  verifyNotification,
  verifyWebhook,
  type Order,
} from '../sdk/src/index.ts';

/** The token service answers 429 (`retry-after: 1`) for this Visa test card. */
const TSP_THROTTLED = '4000000000004293';

type Receiver = Awaited<ReturnType<typeof startReceiver>>;

/** A fetch that records every call (method, path, idempotency key, replayed?) and passes it on. */
function recordingFetch(onResponse?: (call: RecordedCall, res: Response) => void) {
  const calls: RecordedCall[] = [];
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const call = { method: init?.method ?? 'GET', path: new URL(String(input)).pathname, key: headers['idempotency-key'], replayed: res.headers.get('idempotent-replayed') === 'true', status: res.status };
    calls.push(call);
    onResponse?.(call, res);
    return res;
  };
  return { fetch: f, calls };
}
interface RecordedCall {
  method: string;
  path: string;
  key: string | undefined;
  replayed: boolean;
  status: number;
}

/** Compile-time checks: the SDK's types are the server's schemas (tsc fails if these stop erroring). */
export function typeChecks(m: MerchantClient, n: NetworkTokenClient, i: IssuerClient): void {
  // @ts-expect-error currency is required by OrderBody
  void m.orders.create({ items: [] });
  // @ts-expect-error installments is 3, 6, 9, 12 or 18
  void m.tokens.create({ id: 'card', installments: 4 });
  // @ts-expect-error source is MANUAL, ON_FILE or TOKEN
  void n.tokens.create({ source: 'PHONE', encryptedData: 'x' });
  // @ts-expect-error personalInformation needs firstName and lastName
  void i.consumers.put('c-1', { email: 'a@b.co' });
  void (async () => {
    const order: Order = await m.orders.get('o');
    // @ts-expect-error status is a closed union of the schema
    const s: 'cancelled' = order.status;
    void s;
  });
}

for (const engine of ENGINES) {
  describe(`SDK against the real app on ${engine}`, () => {
    let t: Instance;
    let origin: string;
    let receiver: Receiver;

    before(async () => {
      t = await startInstance(engine);
      origin = await listen(t);
      receiver = await startReceiver();
    });
    after(async () => {
      await receiver.close();
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in logs or stored bytes');
    });

    const newMerchant = async (name = 'Acme') => t.deps.services.merchants.create({ name });

    it('merchant: logs in with the key pair once, saves a card, makes a permanent token and pays an order; the webhook verifies', async () => {
      const creds = await newMerchant();
      const rec = recordingFetch();
      const merchant = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: creds.privateKey, fetch: rec.fetch });
      await merchant.webhooks.create({ url: receiver.url, events: ['orders.confirmation'] });
      const customer = await merchant.customers.create({ first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' });
      const card = await merchant.cards.save(customer.id, { number: CARDS.visa, name: 'Ada Lovelace', exp_month: '12', exp_year: '2030', cvc: '123' });
      assert.equal(card.last4, '4242');
      assert.deepEqual((await merchant.cards.list(customer.id)).map((c) => c.id), [card.id]);
      const token = await merchant.tokens.create({ id: card.id, tokenization: true });
      assert.equal((await merchant.tokens.get(token)).type, 'permanent');
      const order = await merchant.orders.create({ currency: 'MXN', items: [{ name: 'Coffee 1 kg', quantity: 2, price: 150.5 }], token });
      assert.equal(order.status, 'paid');
      assert.equal(order.totals.total, 301);
      assert.equal((await merchant.orders.get(order.id)).payment?.status, 'captured');
      const all: string[] = [];
      for await (const o of merchant.orders.all()) all.push(o.id);
      assert.deepEqual(all, [order.id]);
      assert.ok((await merchant.audit.list()).data.length > 0, 'paying decrypted the card: audited');

      assert.equal(rec.calls.filter((c) => c.path === '/api/authorizations/token').length, 1, 'one login, reused');
      const posts = rec.calls.filter((c) => c.method === 'POST' && c.path !== '/api/authorizations/token');
      assert.ok(posts.length >= 4 && posts.every((c) => c.key && c.key.length >= 32), 'every POST carries a generated Idempotency-Key');
      assert.equal(new Set(posts.map((c) => c.key)).size, posts.length, 'one key per call');

      const note = await eventually(async () => receiver.received.find((r) => r.headers['x-pay-signature'] && r.json.data?.id === order.id), 5000, 'orders.confirmation');
      const verified = verifyWebhook<{ event: string; data: Order }>(creds.webhookSecret, note.headers, note.body);
      assert.equal(verified.payload.event, 'orders.confirmation');
      assert.equal(verified.id, note.headers['x-pay-webhook-id']);
      assert.throws(() => verifyWebhook(creds.webhookSecret, note.headers, note.body.replace('"paid"', '"created"')), TesseraSignatureError);
      assert.throws(() => verifyWebhook('whsec_other', note.headers, note.body), TesseraSignatureError);
      assert.throws(() => verifyWebhook(creds.webhookSecret, note.headers, note.body, { now: () => Date.now() + 600_000 }), TesseraSignatureError, 'a replay after the tolerance');
    });

    it('merchant: logs in again when the token is within the refresh margin of its expiry', async () => {
      const creds = await newMerchant();
      const rec = recordingFetch();
      // A margin as long as the token's hour: every call finds it about to expire.
      const merchant = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: creds.privateKey, fetch: rec.fetch, refreshMarginMs: 3_600_000 });
      await merchant.webhooks.list();
      await merchant.webhooks.list();
      await Promise.all([merchant.audit.list(), merchant.audit.list()]);
      assert.equal(rec.calls.filter((c) => c.path === '/api/authorizations/token').length, 3, 'one login per call; concurrent calls share one');
    });

    it('merchant: a token the server refuses (401) is replaced by a new login and the call is sent again', async () => {
      const creds = await newMerchant();
      let spoiled = 0;
      const rec = recordingFetch();
      // The first call after login goes out with a token the server no longer accepts (as after a key rotation).
      const spoil: typeof fetch = (input, init) => {
        const headers = { ...(init?.headers as Record<string, string>) };
        if (!String(input).endsWith('/api/authorizations/token') && spoiled++ === 0) headers.authorization = `${headers.authorization}x`;
        return rec.fetch(input, { ...init, headers });
      };
      const merchant = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: creds.privateKey, fetch: spoil });
      assert.deepEqual(await merchant.webhooks.list(), []);
      assert.deepEqual(
        rec.calls.map((c) => [c.path, c.status]),
        [['/api/authorizations/token', 200], ['/api/webhooks', 401], ['/api/authorizations/token', 200], ['/api/webhooks', 200]],
      );
    });

    it('network tokens: sync token, async token notified and verified, a transaction cryptogram the acquirer approves, and a batch', async () => {
      const creds = await newMerchant('PSP');
      const cof = new NetworkTokenClient({ baseUrl: origin, merchantId: creds.id, apiKey: creds.privateKey });
      const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { extractable: true });
      const jwk = { ...(await exportJWK(publicKey)), kid: 'psp-1', use: 'enc', alg: 'RSA-OAEP-256' };
      const settings = await cof.updateSettings({ notificationUrl: receiver.url, jwks: { keys: [jwk] } });
      assert.equal(settings.notificationUrl, receiver.url);

      const sync = await cof.tokens.create({ card: { fpan: CARDS.visa, exp: '1230', name: 'Ada Lovelace', cvv: '123', accountId: 'acct-1' } });
      assert.equal(sync.tokenStatus, 'ACTIVE');
      assert.equal(sync.network, 'VISA');
      assert.equal(sync.cardLastDigits, '4242');

      const { requestId, correlationId } = await cof.tokens.createAsync({ card: { fpan: CARDS.mastercard, exp: '1230', name: 'Ada Lovelace', cvv: '123' } }, { correlationId: 'sdk-async-1' });
      assert.equal(correlationId, 'sdk-async-1');
      const note = await eventually(async () => receiver.received.find((r) => r.json.requestId === requestId), 5000, 'the token notification');
      assert.equal(note.headers['x-correlation-id'], 'sdk-async-1');
      const verified = verifyNotification<{ requestId: string; tokenId: string; tokenStatus: string }>(creds.webhookSecret, note.headers, note.body);
      assert.equal(verified.payload.tokenStatus, 'ACTIVE');
      assert.throws(() => verifyNotification(creds.webhookSecret, note.headers, note.body.replace('ACTIVE', 'DELETED')), TesseraSignatureError);
      assert.throws(() => verifyNotification(creds.webhookSecret, note.headers, note.body, { now: () => Date.now() - 3_600_000 }), TesseraSignatureError);
      assert.equal((await cof.tokens.getAsyncResult(requestId)).requestStatus, 'SUCCEEDED');

      assert.equal((await cof.tokens.suspend(verified.payload.tokenId)).tokenStatus, 'SUSPENDED');
      assert.equal((await cof.tokens.resume(verified.payload.tokenId)).tokenStatus, 'ACTIVE');

      const tx = await cof.transactions.create(sync.tokenId);
      const credentials = await decryptCredentials(tx.encryptedData, privateKey);
      assert.match(credentials.cryptogram, /\S/);
      const auth = await cof.sandbox.authorize({ tokenPan: credentials.tokenPan, tokenExpiryDate: credentials.tokenExpiryDate, cryptogram: credentials.cryptogram, amount: 10_000, currency: 'MXN' });
      assert.equal(auth.status, 'approved');
      const replay = await cof.sandbox.authorize({ tokenPan: credentials.tokenPan, tokenExpiryDate: credentials.tokenExpiryDate, cryptogram: credentials.cryptogram, amount: 10_000, currency: 'MXN' });
      assert.equal(replay.status, 'declined', 'the cryptogram is single use');

      const batch = await cof.batches.submit('sdk-batch-1', [
        { rowId: 'r1', fpan: CARDS.visa, exp: '1230', accountId: 'b-1' },
        { rowId: 'r2', fpan: '4242424242424241', exp: '1230' },
      ], { last: true });
      assert.equal(batch.totalRecords, 2);
      await eventually(async () => ((await cof.batches.get('sdk-batch-1')).status === 'COMPLETED' ? true : undefined), 10_000, 'the batch');
      const results = [];
      for await (const r of cof.batches.allResults('sdk-batch-1')) results.push([r.rowId, r.tokenStatus ?? r.errorCode]);
      assert.deepEqual(results, [['r1', 'ACTIVE'], ['r2', 'invalid_number']]);
    });

    it('issuer: OAuth JWT-bearer (token cached), consumer, ECDH-ES card, eCom token and its credentials, Click to Pay enrolment notified and verified, batch file', async () => {
      const sig = await signingKeyPair();
      const enc = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
      const encJwk = { ...(await exportJWK(enc.publicKey)), kid: 'bank-enc-1', use: 'enc', alg: 'ECDH-ES' };
      const created = await t.deps.services.issuers.create({ name: 'Banco Uno', jwks: [sig.jwk, encJwk], notifyUrl: receiver.url.replace(/\/notifications$/, '') + '/' });
      const rec = recordingFetch();
      const signingKey = { ...(await exportJWK(sig.privateKey)), kid: sig.kid };
      const issuer = new IssuerClient({ baseUrl: origin, issuerId: created.issuerId, signingKey, fetch: rec.fetch });

      await issuer.consumers.put('c-sdk-1', personal() as never);
      const card = await issuer.cards.put('card-sdk-1', { consumerId: 'c-sdk-1', card: { pan: CARDS.mastercard, exp: '1230' } });
      assert.equal(card.cardLastDigits, '4444');
      assert.equal(card.clickToPayStatus, 'NOT_ENROLLED');
      const token = await issuer.tokens.create('card-sdk-1');
      assert.equal(token.tokenStatus, 'ACTIVE');
      assert.equal(token.tokenType, 'ECOM');
      assert.deepEqual((await issuer.tokens.list('card-sdk-1')).map((x) => x.tokenId), [token.tokenId]);
      const tx = await issuer.tokens.transaction(token.tokenId);
      const credentials = await decryptIssuerCredentials(tx.encryptedData, enc.privateKey);
      assert.match(credentials.tokenPan, /^\d{16}$/);
      assert.match(credentials.cryptogram, /\S/);

      const op = await issuer.clickToPay.enrol('card-sdk-1');
      assert.equal(op.status, 'PENDING');
      const done = await issuer.clickToPay.wait('card-sdk-1', op.operationId, { timeoutMs: 10_000, intervalMs: 50 });
      assert.equal(done.status, 'SUCCESSFUL');
      assert.equal((await issuer.cards.get('card-sdk-1')).clickToPayStatus, 'ENROLLED');
      const pushed = await eventually(async () => receiver.received.find((r) => r.url.endsWith(`/issuers/${created.issuerId}/cards`) && r.body.includes(op.operationId)), 5000, 'the enrolment notification');
      const verified = verifyNotification<{ operations: { operationId: string; status: string }[] }>(created.webhookSecret, pushed.headers, pushed.body);
      assert.ok(verified.payload.operations.some((o) => o.operationId === op.operationId));

      const accepted = await issuer.batchFiles.submit({
        batchId: 'sdk_batch_1',
        seqNumber: 1,
        records: [
          { rowId: 'r1', consumerId: 'c-sdk-2', personalInformation: personal() as never, cards: [{ cardId: 'card-sdk-2', card: { pan: CARDS.visa, exp: '1230' } }] },
          { rowId: 'r2', consumerId: 'c-sdk-3', personalInformation: personal() as never, cards: [{ cardId: 'card-sdk-3', card: { pan: '4242424242424241', exp: '1230' } }] },
        ],
      });
      assert.equal(accepted.totalRecords, 2);
      await eventually(async () => ((await issuer.batchFiles.status('sdk_batch_1')).status === 'COMPLETED' ? true : undefined), 10_000, 'the batch');
      const output = await issuer.batchFiles.output('sdk_batch_1', 1);
      assert.deepEqual(
        output.recordsResults.map((r) => [r.rowId, r.consumerCardRegistrationResult.cards.map((c) => c.status).join()]),
        [['r1', 'OK'], ['r2', 'KO']],
      );

      assert.equal(rec.calls.filter((c) => c.path === '/authz/v1/oauth2/token').length, 1, 'one access token for every call');
    });

    it('errors: bad input is a typed 4xx with code and param; another tenant is 404; a bad login is 401', async () => {
      const creds = await newMerchant();
      const merchant = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: creds.privateKey });
      const bad = await merchant.customers.create({ first_name: 'Ada', last_name: 'L', email: 'not-an-email' }).catch((e: unknown) => e);
      assert.ok(bad instanceof TesseraApiError);
      assert.deepEqual([bad.face, bad.status, bad.code, bad.param, bad.retryable], ['merchant', 400, 'invalid_field', 'email', false]);
      assert.match(bad.requestId ?? '', /^req_/);
      const badNumber = await merchant.tokens.create({ number: '4242424242424241', name: 'Ada', exp_month: '12', exp_year: '2030', cvc: '123' }).catch((e: unknown) => e);
      assert.ok(badNumber instanceof TesseraApiError);
      assert.deepEqual([badNumber.code, badNumber.param], ['invalid_number', 'number']);
      assert.ok(!badNumber.message.includes('4242424242424241'), 'the number is not echoed');
      const declined = await merchant.tokens.create({ number: CARDS.insufficientFunds, name: 'Ada', exp_month: '12', exp_year: '2030', cvc: '123', tokenization: true }).catch((e: unknown) => e);
      assert.ok(declined instanceof TesseraApiError);
      assert.deepEqual([declined.status, declined.declineCode], [402, 'insufficient_funds']);

      const order = await merchant.orders.create({ currency: 'MXN', items: [{ name: 'Tea', quantity: 1, price: 10 }] });
      const otherCreds = await newMerchant('Other');
      const other = new MerchantClient({ baseUrl: origin, publicKey: otherCreds.publicKey, privateKey: otherCreds.privateKey });
      const hidden = await other.orders.get(order.id).catch((e: unknown) => e);
      assert.ok(hidden instanceof TesseraApiError);
      assert.deepEqual([hidden.status, hidden.code], [404, 'order_not_found']);

      const wrongKey = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: 'sk_wrong' });
      const denied = await wrongKey.orders.list().catch((e: unknown) => e);
      assert.ok(denied instanceof TesseraApiError);
      assert.deepEqual([denied.status, denied.code, denied.retryable], [401, 'unauthorized', false]);

      const cof = new NetworkTokenClient({ baseUrl: origin, merchantId: creds.id, apiKey: creds.privateKey });
      const garbled = await cof.tokens.create({ source: 'ON_FILE', encryptedData: 'not-a-jwe' }).catch((e: unknown) => e);
      assert.ok(garbled instanceof TesseraApiError);
      assert.deepEqual([garbled.face, garbled.status, garbled.retryable], ['cof', 400, false]);
      assert.match(garbled.requestId ?? '', /^req_/, 'from x-request-id');
      const otherCof = new NetworkTokenClient({ baseUrl: origin, merchantId: otherCreds.id, apiKey: otherCreds.privateKey });
      const mine = await cof.tokens.create({ card: { fpan: CARDS.visa, exp: '1230', accountId: 'a-err' } });
      const notFound = await otherCof.tokens.get(mine.tokenId).catch((e: unknown) => e);
      assert.ok(notFound instanceof TesseraApiError);
      assert.deepEqual([notFound.face, notFound.status, notFound.code], ['cof', 404, 'token_not_found']);

      const sig = await signingKeyPair();
      const a = await t.deps.services.issuers.create({ name: 'A', jwks: [sig.jwk] });
      const b = await t.deps.services.issuers.create({ name: 'B', jwks: [sig.jwk] });
      const issuerA = new IssuerClient({ baseUrl: origin, issuerId: a.issuerId, signingKey: { key: sig.privateKey, kid: sig.kid } });
      const issuerB = new IssuerClient({ baseUrl: origin, issuerId: b.issuerId, signingKey: { key: sig.privateKey, kid: sig.kid } });
      const badConsumer = await issuerA.consumers.put('c-1', { firstName: 'Ada', lastName: 'L', email: 'nope' }).catch((e: unknown) => e);
      assert.ok(badConsumer instanceof TesseraApiError);
      assert.deepEqual([badConsumer.face, badConsumer.status, badConsumer.code, badConsumer.param], ['banking', 400, 'invalid_field', 'personalInformation.email']);
      await issuerA.consumers.put('c-1', { firstName: 'Ada', lastName: 'L' });
      await issuerA.cards.put('card-1', { consumerId: 'c-1', card: { pan: CARDS.visa, exp: '1230' } });
      const otherCard = await issuerB.cards.get('card-1').catch((e: unknown) => e);
      assert.ok(otherCard instanceof TesseraApiError);
      assert.deepEqual([otherCard.face, otherCard.status, otherCard.code], ['banking', 404, 'card_not_found']);
      const stranger = await signingKeyPair();
      const impostor = new IssuerClient({ baseUrl: origin, issuerId: a.issuerId, signingKey: { key: stranger.privateKey, kid: stranger.kid } });
      const refused = await impostor.cards.get('card-1').catch((e: unknown) => e);
      assert.ok(refused instanceof TesseraApiError);
      assert.equal(refused.face, 'oauth');
      assert.ok(['invalid_client', 'invalid_grant'].includes(refused.code), refused.code);
    });

    it('retries a 429 after retry-after with the same idempotency key, and the retry is done again, not replayed', async () => {
      const creds = await newMerchant('Throttled');
      const rec = recordingFetch();
      const cof = new NetworkTokenClient({ baseUrl: origin, merchantId: creds.id, apiKey: creds.privateKey, fetch: rec.fetch, maxRetries: 1, retryBaseMs: 1 });
      const started = Date.now();
      const err = await cof.tokens.create({ card: { fpan: TSP_THROTTLED, exp: '1230', accountId: 'a-429' } }).catch((e: unknown) => e);
      assert.ok(err instanceof TesseraApiError);
      assert.deepEqual([err.status, err.code, err.retryable, err.retryAfterS], [429, 'rate_limited', true, 1]);
      const attempts = rec.calls.filter((c) => c.path === '/cof/v1/tokens');
      assert.equal(attempts.length, 2, 'one retry');
      assert.ok(Date.now() - started >= 900, 'waited for retry-after');
      assert.equal(attempts[0]!.key, attempts[1]!.key, 'the same Idempotency-Key');
      assert.equal(attempts[1]!.replayed, false, 'a 429 is not stored: the retry reached the network again');
    });

    it('a POST whose answer is lost is retried with the same idempotency key: one order, paid once', async () => {
      const creds = await newMerchant('Lossy');
      let dropped = 0;
      const rec = recordingFetch();
      const lossy: typeof fetch = async (input, init) => {
        const res = await rec.fetch(input, init);
        if (init?.method === 'POST' && new URL(String(input)).pathname === '/api/orders' && dropped++ === 0) {
          await res.arrayBuffer();
          throw new TypeError('fetch failed: connection reset after the server answered');
        }
        return res;
      };
      const merchant = new MerchantClient({ baseUrl: origin, publicKey: creds.publicKey, privateKey: creds.privateKey, fetch: lossy, retryBaseMs: 1 });
      const token = await merchant.tokens.create({ number: CARDS.visa, name: 'Ada', exp_month: '12', exp_year: '2030', cvc: '123' });
      const order = await merchant.orders.create({ currency: 'MXN', items: [{ name: 'Tea', quantity: 1, price: 25 }], token });
      assert.equal(order.status, 'paid');
      const attempts = rec.calls.filter((c) => c.method === 'POST' && c.path === '/api/orders');
      assert.equal(attempts.length, 2);
      assert.equal(attempts[0]!.key, attempts[1]!.key);
      assert.deepEqual(attempts.map((a) => [a.status, a.replayed]), [[201, false], [201, true]], 'the second answer is the first one replayed');
      const { data } = await merchant.orders.list();
      assert.deepEqual(data.map((o) => o.id), [order.id], 'exactly one order');
      // The temporary token paid once; a second payment would have been refused.
      const again = await merchant.orders.create({ currency: 'MXN', items: [{ name: 'Tea', quantity: 1, price: 25 }], token }).catch((e: unknown) => e);
      assert.ok(again instanceof TesseraApiError);
      assert.equal(again.code, 'token_already_used');
    });

    it('no answer at all is a retryable TesseraNetworkError after the retries', async () => {
      let attempts = 0;
      const counting: typeof fetch = (input, init) => {
        attempts++;
        return fetch(input, init);
      };
      // Port 1 on loopback: connection refused.
      const merchant = new MerchantClient({ baseUrl: 'http://127.0.0.1:1', publicKey: 'pk', privateKey: 'sk', fetch: counting, maxRetries: 2, retryBaseMs: 1 });
      const err = await merchant.orders.list().catch((e: unknown) => e);
      assert.ok(err instanceof TesseraNetworkError);
      assert.equal(err.retryable, true);
      assert.equal(attempts, 3);
    });
  });
}
