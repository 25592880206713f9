import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, UnsecuredJWT } from 'jose';
import { deriveKey, masterKeyFrom } from '../src/vault/master-key.ts';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';

function basic(publicKey: string, privateKey: string): string {
  return 'Basic ' + Buffer.from(`${publicKey}:${privateKey}`).toString('base64');
}

for (const engine of ENGINES) {
  describe(`merchant authentication on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
    });
    after(async () => assert.deepEqual(await closeAndScan(t), [], 'no test PAN in logs or database'));

    it('exchanges the key pair for a JWT valid one hour, usable with or without Bearer', async () => {
      const res = await call(t, undefined, 'POST', '/api/authorizations/token', { headers: { authorization: basic(m.publicKey, m.privateKey) } });
      assert.equal(res.status, 200);
      const [, payload] = res.body.token.split('.');
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
      assert.equal(claims.exp - claims.iat, 3600);
      assert.equal(claims.sub, m.id);
      assert.equal((await call(t, res.body.token, 'POST', '/api/tokens', { body: rawCard() })).status, 201);
      assert.equal((await call(t, `Bearer ${res.body.token}`, 'POST', '/api/tokens', { body: rawCard() })).status, 201);
    });

    it('refuses wrong, missing or malformed key pairs with 401', async () => {
      for (const authorization of [
        basic(m.publicKey, m.privateKey + 'x'),
        basic(m.publicKey, 'sk_' + '0'.repeat(48)),
        basic('pk_unknown', m.privateKey),
        basic(m.publicKey, ''),
        'Basic not-base64!!',
        'Bearer ' + m.privateKey,
        '',
      ]) {
        const res = await call(t, undefined, 'POST', '/api/authorizations/token', { headers: authorization ? { authorization } : {} });
        assert.equal(res.status, 401, authorization);
        assert.equal(res.body.code, 'unauthorized');
        assert.ok(!res.text.includes(m.privateKey));
      }
    });

    it('refuses missing, malformed, forged, expired and unsigned JWTs with 401', async () => {
      const key = deriveKey(masterKeyFrom(Buffer.alloc(32, 7)), 'merchant-jwt');
      const now = Math.floor(Date.now() / 1000);
      const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(m.id).setIssuer('tessera').setAudience('tessera:merchant-api').setIssuedAt(now).setExpirationTime(now + 600).sign(key);
      const realKey = deriveKey(masterKeyFrom(readMasterKey(t)), 'merchant-jwt');
      const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(m.id).setIssuer('tessera').setAudience('tessera:merchant-api').setIssuedAt(now - 7200).setExpirationTime(now - 3600).sign(realKey);
      const unsigned = new UnsecuredJWT({}).setSubject(m.id).setIssuer('tessera').setAudience('tessera:merchant-api').setExpirationTime(now + 600).encode();
      const tampered = m.jwt.slice(0, -2) + (m.jwt.endsWith('A') ? 'BB' : 'AA');
      for (const jwt of [undefined, 'garbage', 'a.b.c', forged, expired, unsigned, tampered, m.privateKey]) {
        const res = await call(t, jwt, 'GET', '/api/tokens/ca_00000000000000000');
        assert.equal(res.status, 401, String(jwt).slice(0, 30));
        assert.equal(res.body.code, 'unauthorized');
      }
      // The real one still works.
      const ok = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() });
      assert.equal(ok.status, 201);
    });
  });

  describe(`tenant isolation on ${engine}`, () => {
    let t: Instance;
    let a: MerchantCredentials;
    let b: MerchantCredentials;
    before(async () => {
      t = await startInstance(engine);
      a = await createMerchant(t, 'A');
      b = await createMerchant(t, 'B');
    });
    after(async () => assert.deepEqual(await closeAndScan(t), [], 'no test PAN in logs or database'));

    it("another merchant's tokens, customers and cards are 404, never 403", async () => {
      const temp = (await call(t, a.jwt, 'POST', '/api/tokens', { body: rawCard() })).body.token;
      const perm = (await call(t, a.jwt, 'POST', '/api/tokens', { body: rawCard({ tokenization: true }) })).body.token;
      const customer = (await call(t, a.jwt, 'POST', '/api/customers', { body: { first_name: 'A', last_name: 'A', email: 'a@example.com' } })).body;
      const card = (await call(t, a.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: { number: CARDS.visa, name: 'A A', exp_month: '01', exp_year: '2030' } })).body;

      const attempts: [string, 'GET' | 'POST' | 'DELETE', string, unknown?][] = [
        ['read temporary token', 'GET', `/api/tokens/${temp}`],
        ['read permanent token', 'GET', `/api/tokens/${perm}`],
        ['delete token', 'DELETE', `/api/tokens/${perm}`],
        ['read customer', 'GET', `/api/customers/${customer.id}`],
        ['list cards', 'GET', `/api/customers/${customer.id}/cards`],
        ['save card', 'POST', `/api/customers/${customer.id}/cards`, { number: CARDS.visa, name: 'B', exp_month: '01', exp_year: '2030' }],
        ['delete card', 'DELETE', `/api/customers/${customer.id}/cards/${card.id}`],
        ['tokenize card', 'POST', '/api/tokens', { id: card.id, cvc: '123' }],
      ];
      for (const [what, method, url, body] of attempts) {
        const res = await call(t, b.jwt, method, url, body === undefined ? {} : { body });
        assert.equal(res.status, 404, what);
      }
      // Nothing B did changed A's data.
      assert.equal((await call(t, a.jwt, 'GET', `/api/tokens/${perm}`)).status, 200);
      assert.equal((await call(t, a.jwt, 'GET', `/api/customers/${customer.id}/cards`)).body.data.length, 1);
    });
  });
}

/** Sandbox mode keeps the generated master key in the data directory. */
function readMasterKey(t: Instance): Buffer {
  return Buffer.from(readFileSync(join(t.dataDir, 'master.key'), 'utf8').trim(), 'base64');
}
