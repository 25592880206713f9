import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { orderBody, temporaryToken } from './support/orders.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera } from './support/cof.ts';

for (const engine of ENGINES) {
  describe(`keyed requests whose process died, on ${engine}`, () => {
    // A failed assertion must not leave an instance open (its pool would keep the run alive).
    let current: Instance | undefined;
    afterEach(async () => {
      await current?.close().catch(() => undefined);
      current = undefined;
    });
    it('answers the retry with the order the first attempt created: no second order, no token_already_used', { timeout: 60_000 }, async () => {
      // Latency keeps the first request at the acquirer when the process "dies" (no answer stored).
      let t = (current = await startInstance(engine, { TESSERA_SANDBOX_LATENCY_MS: '400', TESSERA_IDEMPOTENCY_LOCK_MS: '300' }));
      const m = await createMerchant(t);
      const token = await temporaryToken(t, m, { number: CARDS.mastercard, cvc: '987' });
      const body = orderBody({ token });
      const headers = { 'idempotency-key': 'order-crash-1' };
      const inflight = call(t, m.jwt, 'POST', '/api/orders', { body, headers }).catch(() => undefined);
      const first = await eventually(async () => t.deps.db.kysely.selectFrom('orders').selectAll().where('merchant_id', '=', m.id).executeTakeFirst(), 2000, 'the order row');
      assert.equal(first.payment_status, 'pending');
      t = current = await t.restart({ TESSERA_SANDBOX_LATENCY_MS: '0', TESSERA_IDEMPOTENCY_LOCK_MS: '300' });
      await inflight;

      // The dead request's claim lapses; the retry takes the key over and finds its order.
      await new Promise((r) => setTimeout(r, 350));
      const retry = await call(t, m.jwt, 'POST', '/api/orders', { body, headers });
      assert.equal(retry.status, 201, retry.text);
      assert.equal(retry.body.id, first.id);
      assert.equal(retry.body.status, 'created', 'not paid: the reconciler reverses what the dead request held');
      const rows = await t.deps.db.kysely.selectFrom('orders').select('id').where('merchant_id', '=', m.id).execute();
      assert.equal(rows.length, 1);
      // From now on the key replays that answer; without a key the used token is refused as before.
      const again = await call(t, m.jwt, 'POST', '/api/orders', { body, headers });
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body.id, first.id);
      const unkeyed = await call(t, m.jwt, 'POST', '/api/orders', { body });
      assert.equal(unkeyed.status, 409);
      assert.equal(unkeyed.body.code, 'token_already_used');
      // Keys belong to a merchant: another merchant's request with the same key is its own.
      const other = await createMerchant(t, 'Other');
      const theirs = await call(t, other.jwt, 'POST', '/api/orders', { body: orderBody(), headers });
      assert.equal(theirs.status, 201);
      assert.notEqual(theirs.body.id, first.id);
      current = undefined;
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('answers the retry of an async token request that committed but never answered with the request it made', { timeout: 60_000 }, async () => {
      const t = (current = await startInstance(engine));
      const m = await createCofMerchant(t);
      const body = { merchantId: m.id, source: 'ON_FILE', encryptedData: await encryptToTessera(t, cardPayload('4242424242424242')) };
      // The first attempt's work, committed under its key by a process that then died (no answer stored).
      const first = await t.deps.services.networkTokens.createAsync(m.id, body as never, 'corr-crash', { idempotencyKey: 'async-crash-1' });
      const retry = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body, correlationId: 'corr-crash', headers: { 'idempotency-key': 'async-crash-1' } });
      assert.equal(retry.status, 202, retry.text);
      assert.equal(retry.body.requestId, first.requestId);
      const rows = await t.deps.db.kysely.selectFrom('network_token_requests').select('id').where('merchant_id', '=', m.id).execute();
      assert.deepEqual(rows.map((r) => r.id), [first.requestId]);
      // Another key is another request.
      const other = await cof(t, m, 'POST', '/cof/v1/async-tokens', { body, headers: { 'idempotency-key': 'async-crash-2' } });
      assert.equal(other.status, 202);
      assert.notEqual(other.body.requestId, first.requestId);
      current = undefined;
      assert.deepEqual(await closeAndScan(t), []);
    });
  });
}
