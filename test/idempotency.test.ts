import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { cardPayload, cof, encryptToTessera } from './support/cof.ts';
import { createOrder, orderBody, temporaryToken } from './support/orders.ts';
import { banking, createIssuer, registerCard } from './support/issuer.ts';

for (const engine of ENGINES) {
  describe(`Idempotency-Key on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let other: MerchantCredentials;
    const count = async (table: 'orders' | 'sandbox_authorizations' | 'network_tokens', merchantId = m.id) =>
      Number((await t.deps.db.kysely.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).where('merchant_id', '=', merchantId).executeTakeFirstOrThrow()).n);

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
      other = await createMerchant(t, 'Other');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('replays the first answer to a retry with the same key and body, without paying again', async () => {
      const body = orderBody({ token: await temporaryToken(t, m) });
      const before = await count('sandbox_authorizations');
      const first = await createOrder(t, m, body, { 'idempotency-key': 'order-1' });
      assert.equal(first.status, 201, first.text);
      const again = await createOrder(t, m, body, { 'idempotency-key': 'order-1' });
      assert.equal(again.status, 201, 'not token_already_used: the first answer, replayed');
      assert.equal(again.text, first.text);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal((await count('sandbox_authorizations')) - before, 1, 'one charge');
    });

    it('refuses the same key with another body (409) and keeps keys apart per merchant', async () => {
      await createOrder(t, m, orderBody(), { 'idempotency-key': 'k-2' });
      const other1 = await createOrder(t, m, orderBody({ currency: 'USD' }), { 'idempotency-key': 'k-2' });
      assert.deepEqual([other1.status, other1.body.code, other1.body.param], [409, 'idempotency_key_reused', 'Idempotency-Key']);
      const elsewhere = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: 'https://example.test/h', events: ['orders.create'] }, headers: { 'idempotency-key': 'k-2' } });
      assert.equal(elsewhere.status, 409, 'the same key on another endpoint is another request');
      const otherMerchant = await createOrder(t, other, orderBody({ currency: 'USD' }), { 'idempotency-key': 'k-2' });
      assert.equal(otherMerchant.status, 201, 'another merchant has its own keys');
    });

    it('replays a decline without asking the network again', async () => {
      const body = orderBody({ token: await temporaryToken(t, m, { number: CARDS.insufficientFunds }) });
      const before = await count('sandbox_authorizations');
      const first = await createOrder(t, m, body, { 'idempotency-key': 'decline-1' });
      const again = await createOrder(t, m, body, { 'idempotency-key': 'decline-1' });
      assert.deepEqual([first.status, again.status], [402, 402]);
      assert.equal(again.text, first.text);
      assert.equal((await count('sandbox_authorizations')) - before, 1);
    });

    it('does the work once for concurrent duplicates and gives each the same answer', async () => {
      const body = orderBody({ token: await temporaryToken(t, m) });
      const [ordersBefore, holdsBefore] = [await count('orders'), await count('sandbox_authorizations')];
      const results = await Promise.all(Array.from({ length: 8 }, () => createOrder(t, m, body, { 'idempotency-key': 'burst-1' })));
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([201]));
      assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
      assert.equal((await count('orders')) - ordersBefore, 1);
      assert.equal((await count('sandbox_authorizations')) - holdsBefore, 1);
    });

    it('covers the /cof/v1 face too: a retried token request returns the same network token', async () => {
      const body = { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard)), source: 'MANUAL' };
      const auth = { ...m, auth: `APIKEY ${m.privateKey}`, webhookSecret: m.webhookSecret };
      const before = await count('network_tokens');
      const first = await cof(t, auth, 'POST', '/cof/v1/tokens', { body, headers: { 'idempotency-key': 'cof-1' } });
      const again = await cof(t, auth, 'POST', '/cof/v1/tokens', { body, headers: { 'idempotency-key': 'cof-1' } });
      assert.equal(first.status, 201, first.text);
      assert.equal(again.body.tokenId, first.body.tokenId, 'Mastercard issues a new token per request: this one was replayed');
      assert.equal((await count('network_tokens')) - before, 1);
      const fresh = await cof(t, auth, 'POST', '/cof/v1/tokens', { body, headers: { 'idempotency-key': 'cof-2' } });
      assert.notEqual(fresh.body.tokenId, first.body.tokenId, 'a new key is new work');
    });

    it('does not keep a 429: a retry with the same key asks the network again (with retry-after), not a replay', async () => {
      // 4000000000004293: the sandbox token service answers 429 for it.
      const body = { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload('4000000000004293')), source: 'MANUAL' };
      const auth = { ...m, auth: `APIKEY ${m.privateKey}`, webhookSecret: m.webhookSecret };
      const first = await cof(t, auth, 'POST', '/cof/v1/tokens', { body, headers: { 'idempotency-key': 'cof-429' } });
      const again = await cof(t, auth, 'POST', '/cof/v1/tokens', { body, headers: { 'idempotency-key': 'cof-429' } });
      for (const res of [first, again]) {
        assert.equal(res.status, 429, res.text);
        assert.equal(res.headers['retry-after'], '1');
        assert.equal(res.headers['idempotent-replayed'], undefined);
      }
    });

    it('covers the issuer face too: a retried eCom token request returns the same token, keyed per issuer', async () => {
      const issuer = await createIssuer(t);
      const { cardId } = await registerCard(t, issuer, CARDS.visa);
      const headers = { 'idempotency-key': 'issuer-k1' };
      const first = await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`, undefined, { headers });
      assert.equal(first.status, 201, first.text);
      const again = await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`, undefined, { headers });
      assert.equal(again.status, 201);
      assert.equal(again.headers['idempotent-replayed'], 'true');
      assert.equal(again.body.tokenId, first.body.tokenId);
      const fresh = await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`);
      assert.equal(fresh.status, 201);
      const list = await banking(t, issuer, 'GET', `/cards/${cardId}/tokens`);
      assert.equal(list.status, 200);
    });

    it('refuses keys over 255 characters, lets keys expire after 24 hours, and stores answers encrypted', async () => {
      const long = await createOrder(t, m, orderBody(), { 'idempotency-key': 'x'.repeat(256) });
      assert.deepEqual([long.status, long.body.code, long.body.param], [400, 'invalid_idempotency_key', 'Idempotency-Key']);
      const ok = await createOrder(t, m, orderBody(), { 'idempotency-key': 'x'.repeat(255) });
      assert.equal(ok.status, 201);

      const token = await call(t, m.jwt, 'POST', '/api/tokens', { body: { number: CARDS.visa, name: 'Ada', exp_month: '12', exp_year: '2034', cvc: '123' }, headers: { 'idempotency-key': 'tok-1' } });
      assert.equal(token.status, 201);
      const stored = await t.deps.db.kysely.selectFrom('idempotency_keys').selectAll().where('merchant_id', '=', m.id).where('key', '=', 'tok-1').executeTakeFirstOrThrow();
      assert.ok(!stored.response_ct!.includes(token.body.token), 'the bearer token in the answer is not stored in the clear');
      assert.equal(stored.expires_at - stored.created_at, 24 * 3600_000);

      await t.deps.db.kysely.updateTable('idempotency_keys').set({ expires_at: Date.now() - 1 }).where('merchant_id', '=', m.id).where('key', '=', 'k-2').execute();
      const reused = await createOrder(t, m, orderBody({ currency: 'EUR' }), { 'idempotency-key': 'k-2' });
      assert.equal(reused.status, 201, 'an expired key is free again');
    });
  });
}
