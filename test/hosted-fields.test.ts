import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS, rawCard } from './support/cards.ts';
import { sql } from 'kysely';
import { migrateToLatest } from '../src/storage/database.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';

/** Tessera's own origin as the card frame's requests carry it (inject: Host 127.0.0.1:8080 = the default public URL). */
const SELF = 'http://127.0.0.1:8080';

/** The card frame's call: `Authorization: Bearer pk_…`, Tessera's own `Origin`, the page that embeds it. */
function frameTokenize(t: Instance, key: string, parent: string | undefined, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call(t, undefined, 'POST', '/elements/v1/tokens', {
    body,
    headers: { authorization: `Bearer ${key}`, host: '127.0.0.1:8080', origin: SELF, 'sec-fetch-site': 'same-origin', ...(parent ? { 'tessera-parent-origin': parent } : {}), ...headers },
  });
}

async function allow(t: Instance, m: MerchantCredentials, origins: string[]) {
  const res = await call(t, m.jwt, 'PATCH', '/api/merchant/settings', { body: { allowed_origins: origins } });
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function publishableKey(t: Instance, m: MerchantCredentials): Promise<string> {
  return (await call(t, m.jwt, 'GET', '/api/merchant/settings')).body.publishable_key;
}

for (const engine of ENGINES) {
  describe(`hosted card fields: settings and the publishable key on ${engine}`, () => {
    let t: Instance;
    let a: MerchantCredentials;
    let b: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine, { TESSERA_ELEMENTS_RATE_MAX: '1000' });
      a = await createMerchant(t, 'Shop A');
      b = await createMerchant(t, 'Shop B');
      await allow(t, a, ['https://a.shop.example']);
      await allow(t, b, ['https://b.shop.example']);
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('gives every merchant a publishable key at creation, readable through the API with no origins allowed yet', async () => {
      const m = await createMerchant(t, 'Fresh');
      assert.match(m.publishableKey ?? '', /^pk_test_[0-9a-f]{32}$/);
      const res = await call(t, m.jwt, 'GET', '/api/merchant/settings');
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, { publishable_key: m.publishableKey, allowed_origins: [] });
      assert.equal((await call(t, undefined, 'GET', '/api/merchant/settings')).status, 401);
    });

    it('normalizes allowed origins: lower-case host, default port dropped, duplicates removed; http only on loopback', async () => {
      const body = await allow(t, a, ['https://A.Shop.Example:443', 'https://a.shop.example/', 'http://localhost:3000', 'https://a.shop.example:8443']);
      assert.deepEqual(body.allowed_origins, ['https://a.shop.example', 'http://localhost:3000', 'https://a.shop.example:8443']);
      await allow(t, a, ['https://a.shop.example']);
    });

    it('refuses anything but a bare origin, naming the entry at fault', async () => {
      const cases: [unknown, string, string][] = [
        [['https://ok.example', 'http://shop.example'], 'invalid_origin', 'allowed_origins.1'],
        [['https://shop.example/checkout'], 'invalid_origin', 'allowed_origins.0'],
        [['https://shop.example?x=1'], 'invalid_origin', 'allowed_origins.0'],
        [['https://*.shop.example'], 'invalid_origin', 'allowed_origins.0'],
        [['*'], 'invalid_origin', 'allowed_origins.0'],
        [['ftp://shop.example'], 'invalid_origin', 'allowed_origins.0'],
        [['https://user:pw@shop.example'], 'invalid_origin', 'allowed_origins.0'],
        [['shop.example'], 'invalid_origin', 'allowed_origins.0'],
        [['null'], 'invalid_origin', 'allowed_origins.0'],
        ['https://shop.example', 'invalid_field', 'allowed_origins'],
        [Array.from({ length: 21 }, (_, i) => `https://s${i}.example`), 'invalid_field', 'allowed_origins'],
      ];
      for (const [value, code, param] of cases) {
        const res = await call(t, a.jwt, 'PATCH', '/api/merchant/settings', { body: { allowed_origins: value } });
        assert.equal(res.status, 400, `${JSON.stringify(value)} → ${res.text}`);
        assert.equal(res.body.code, code, JSON.stringify(value));
        assert.equal(res.body.param, param, JSON.stringify(value));
      }
      const unknown = await call(t, a.jwt, 'PATCH', '/api/merchant/settings', { body: { publishable_key: 'pk_test_x' } });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.code, 'unknown_field');
      assert.deepEqual((await call(t, a.jwt, 'GET', '/api/merchant/settings')).body.allowed_origins, ['https://a.shop.example'], 'nothing refused was stored');
    });

    it('creates a temporary token from the card frame of an allowed origin, usable by the merchant', async () => {
      const res = await frameTokenize(t, await publishableKey(t, a), 'https://a.shop.example', rawCard());
      assert.equal(res.status, 201, res.text);
      assert.match(res.body.token, /^ca_[0-9a-f]{17}$/);
      assert.deepEqual({ brand: res.body.brand, last4: res.body.last4 }, { brand: 'visa', last4: '4242' });
      const meta = await call(t, a.jwt, 'GET', `/api/tokens/${res.body.token}`);
      assert.equal(meta.status, 200);
      assert.equal(meta.body.type, 'temporary');
      assert.equal(meta.body.source, 'hosted_fields');
      assert.equal((await call(t, b.jwt, 'GET', `/api/tokens/${res.body.token}`)).status, 404, "another merchant never sees it");
    });

    it('creates a permanent token through the validation hold, and answers a decline with 402 and no token', async () => {
      const key = await publishableKey(t, a);
      const ok = await frameTokenize(t, key, 'https://a.shop.example', rawCard({ number: CARDS.amex, cvc: '4321', tokenization: true, installments: 6 }));
      assert.equal(ok.status, 201, ok.text);
      assert.match(ok.body.token, /^[0-9a-f]{24}$/);
      assert.deepEqual({ brand: ok.body.brand, last4: ok.body.last4 }, { brand: 'amex', last4: '0005' });
      assert.equal((await call(t, a.jwt, 'GET', `/api/tokens/${ok.body.token}`)).body.installments, 6);
      const before = await countTokens(t, a.id);
      const declined = await frameTokenize(t, key, 'https://a.shop.example', rawCard({ number: CARDS.insufficientFunds, tokenization: true }));
      assert.equal(declined.status, 402);
      assert.equal(declined.body.code, 'insufficient_funds');
      assert.equal(await countTokens(t, a.id), before);
    });

    it('checks card details as POST /api/tokens does, never echoing the number', async () => {
      const key = await publishableKey(t, a);
      const bad = await frameTokenize(t, key, 'https://a.shop.example', rawCard({ number: '4242424242424241' }));
      assert.equal(bad.status, 400);
      assert.deepEqual([bad.body.code, bad.body.param], ['invalid_number', 'number']);
      assert.doesNotMatch(bad.text, /424242424242424/);
      const cvc = await frameTokenize(t, key, 'https://a.shop.example', rawCard({ number: CARDS.amex, cvc: '123' }));
      assert.deepEqual([cvc.status, cvc.body.code, cvc.body.param], [400, 'invalid_cvc', 'cvc']);
      const saved = await frameTokenize(t, key, 'https://a.shop.example', { id: '0123456789abcdef01234567' });
      assert.equal(saved.status, 400, 'a publishable key cannot tokenize saved cards (it could probe ids)');
    });

    it("refuses another merchant's origin, an unknown key, a missing parent and calls from outside Tessera's frame", async () => {
      const keyA = await publishableKey(t, a);
      const keyB = await publishableKey(t, b);
      const before = await countTokens(t);
      const foreign = await frameTokenize(t, keyB, 'https://a.shop.example', rawCard());
      assert.deepEqual([foreign.status, foreign.body.code], [403, 'origin_not_allowed']);
      const unknown = await frameTokenize(t, 'pk_test_' + '0'.repeat(32), 'https://a.shop.example', rawCard());
      assert.deepEqual([unknown.status, unknown.body.code], [401, 'unauthorized']);
      const garbage = await frameTokenize(t, 'pk_nonsense', 'https://a.shop.example', rawCard());
      assert.deepEqual([garbage.status, garbage.body.code], [401, 'unauthorized']);
      assert.equal(unknown.body.message, garbage.body.message, 'an unknown key says nothing about which keys exist');
      const noParent = await frameTokenize(t, keyA, undefined, rawCard());
      assert.deepEqual([noParent.status, noParent.body.code], [403, 'origin_not_allowed']);
      // The merchant's page calling directly (its own Origin): it would hold the card number itself.
      const direct = await frameTokenize(t, keyA, 'https://a.shop.example', rawCard(), { origin: 'https://a.shop.example', 'sec-fetch-site': 'cross-site' });
      assert.deepEqual([direct.status, direct.body.code], [403, 'origin_not_allowed']);
      const crossSite = await frameTokenize(t, keyA, 'https://a.shop.example', rawCard(), { 'sec-fetch-site': 'cross-site' });
      assert.deepEqual([crossSite.status, crossSite.body.code], [403, 'origin_not_allowed']);
      assert.equal(await countTokens(t), before, 'no token was created');
      assert.equal(direct.headers['access-control-allow-origin'], undefined, 'no CORS: browsers do not let other pages read the answer');
    });

    it('cannot read, list or delete anything: the publishable key is not a merchant credential', async () => {
      const key = await publishableKey(t, a);
      const token = (await frameTokenize(t, key, 'https://a.shop.example', rawCard())).body.token;
      for (const [method, url] of [
        ['GET', `/api/tokens/${token}`],
        ['DELETE', `/api/tokens/${token}`],
        ['GET', '/api/orders'],
        ['GET', '/api/merchant/settings'],
        ['PATCH', '/api/merchant/settings'],
        ['GET', '/api/webhooks'],
        ['GET', '/api/audit'],
      ] as const) {
        for (const auth of [key, `Bearer ${key}`]) {
          const res = await call(t, auth, method, url, method === 'PATCH' ? { body: { allowed_origins: ['https://evil.example'] } } : {});
          assert.equal(res.status, 401, `${method} ${url}`);
          assert.equal(res.body.code, 'unauthorized');
        }
      }
      const login = await t.app.inject({ method: 'POST', url: '/api/authorizations/token', headers: { authorization: 'Basic ' + Buffer.from(`${key}:${key}`).toString('base64') } });
      assert.equal(login.statusCode, 401);
      assert.equal((await call(t, a.jwt, 'GET', `/api/tokens/${token}`)).status, 200, 'the token is still there');
    });

    it('serves the card frame only to allowed origins, with a strict CSP naming that origin as the only ancestor', async () => {
      const key = await publishableKey(t, a);
      const ok = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?key=${key}&origin=${encodeURIComponent('https://a.shop.example')}&locale=es` });
      assert.equal(ok.statusCode, 200);
      const csp = String(ok.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'/);
      assert.match(csp, /style-src 'self'/);
      assert.match(csp, /frame-ancestors https:\/\/a\.shop\.example(;|$)/);
      assert.equal(ok.headers['x-frame-options'], undefined);
      assert.match(ok.body, /<label for="number">Número de tarjeta<\/label>/);
      assert.match(ok.body, /aria-describedby="number-error"/);
      assert.doesNotMatch(ok.body, /<script>|\son\w+="/, 'no inline script or handler');

      const refused = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?key=${key}&origin=${encodeURIComponent('https://b.shop.example')}` });
      assert.equal(refused.statusCode, 403);
      assert.doesNotMatch(refused.body, /id="number"/, 'a refused frame holds no card inputs');
      assert.match(refused.body, /origin_not_allowed/);
      const unknown = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?key=pk_test_${'1'.repeat(32)}&origin=${encodeURIComponent('https://a.shop.example')}` });
      assert.equal(unknown.statusCode, 401);
      const badOrigin = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?key=${key}&origin=javascript:alert(1)` });
      assert.equal(badOrigin.statusCode, 403);
      assert.match(String(badOrigin.headers['content-security-policy']), /frame-ancestors 'none'/);
    });

    it("stops working with its merchant: a deleted merchant's publishable key is unknown", async () => {
      const gone = await createMerchant(t, 'Gone');
      await allow(t, gone, ['https://gone.example']);
      const key = await publishableKey(t, gone);
      assert.equal((await frameTokenize(t, key, 'https://gone.example', rawCard())).status, 201);
      await t.deps.services.merchants.delete(gone.id, { shred: false });
      const res = await frameTokenize(t, key, 'https://gone.example', rawCard());
      assert.deepEqual([res.status, res.body.code], [401, 'unauthorized']);
      const frame = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?key=${key}&origin=${encodeURIComponent('https://gone.example')}` });
      assert.equal(frame.statusCode, 401);
    });

    it('serves tessera.js to pages on any origin (cross-origin resource policy), as JavaScript', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/elements/v1/tessera.js' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/javascript/);
      assert.equal(res.headers['cross-origin-resource-policy'], 'cross-origin');
      assert.match(res.body, /window\.Tessera/);
      const frameJs = await t.app.inject({ method: 'GET', url: '/elements/v1/card-frame.js' });
      assert.equal(frameJs.headers['cross-origin-resource-policy'], 'same-origin');
      const spec = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json();
      assert.deepEqual(spec.paths['/elements/v1/tokens'].post.security, [{ publishableKey: [] }]);
      assert.ok(spec.paths['/api/merchant/settings'].patch, 'the settings are documented');
    });
  });

  describe(`hosted card fields: the publishable key's rate limit on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine, { TESSERA_ELEMENTS_RATE_MAX: '3', TESSERA_ELEMENTS_RATE_WINDOW_S: '60' });
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('answers 429 with retry-after once a client spent its budget for a key, successes and failures alike', async () => {
      const m = await createMerchant(t);
      await allow(t, m, ['https://shop.example']);
      const key = await publishableKey(t, m);
      assert.equal((await frameTokenize(t, key, 'https://shop.example', rawCard())).status, 201);
      assert.equal((await frameTokenize(t, key, 'https://shop.example', rawCard({ number: '4242424242424241' }))).status, 400);
      assert.equal((await frameTokenize(t, key, 'https://evil.example', rawCard())).status, 403);
      const limited = await frameTokenize(t, key, 'https://shop.example', rawCard());
      assert.equal(limited.status, 429);
      assert.equal(limited.body.code, 'rate_limited');
      assert.ok(Number(limited.headers['retry-after']) >= 1 && Number(limited.headers['retry-after']) <= 60, String(limited.headers['retry-after']));
      // The merchant's own API is not limited by it.
      assert.equal((await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() })).status, 201);
    });
  });
}

async function countTokens(t: Instance, merchantId?: string): Promise<number> {
  let q = t.deps.db.kysely.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n'));
  if (merchantId) q = q.where('merchant_id', '=', merchantId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

for (const engine of ENGINES) {
  describe(`migration 0008 on ${engine}`, () => {
    it('gives merchants created before hosted fields a publishable key of their own', async () => {
      const t = await startInstance(engine, { TESSERA_TEST_WORKER: 'off' });
      try {
        const old = [await createMerchant(t, 'Old 1'), await createMerchant(t, 'Old 2')];
        // Back to the schema before 0008, with the merchants still there.
        const k = t.deps.db.kysely;
        await k.schema.dropTable('merchant_publishable_keys').execute();
        await k.schema.alterTable('orders').dropColumn('installment_options').execute();
        await sql`DELETE FROM kysely_migration WHERE name = '0008-hosted-fields'`.execute(k);
        assert.deepEqual(await migrateToLatest(t.deps.db), ['0008-hosted-fields']);
        const keys = await k.selectFrom('merchant_publishable_keys').selectAll().execute();
        assert.deepEqual(keys.map((r) => r.merchant_id).sort(), old.map((m) => m.id).sort());
        for (const row of keys) {
          assert.match(row.publishable_key, /^pk_test_[0-9a-f]{32}$/);
          assert.equal(row.allowed_origins, '[]');
          assert.notEqual(row.publishable_key, old.find((m) => m.id === row.merchant_id)!.publishableKey, 'a new key');
        }
        assert.notEqual(keys[0]!.publishable_key, keys[1]!.publishable_key);
      } finally {
        await t.close();
      }
    });
  });
}
