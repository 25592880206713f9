import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { cof, createCofMerchant } from './support/cof.ts';
import { assertion, createIssuer, requestToken, banking, TOKEN_URL, type TestIssuer } from './support/issuer.ts';

const basic = (publicKey: string, privateKey: string) => 'Basic ' + Buffer.from(`${publicKey}:${privateKey}`).toString('base64');
const login = (t: Instance, authorization: string) => call(t, undefined, 'POST', '/api/authorizations/token', { headers: { authorization } });

for (const engine of ENGINES) {
  describe(`brute-force limits on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let other: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine, { TESSERA_AUTH_FAILURES_MAX: '3' });
      m = await createMerchant(t);
      other = await createMerchant(t, 'Other');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('never limits successful logins', async () => {
      for (let i = 0; i < 6; i++) assert.equal((await login(t, basic(m.publicKey, m.privateKey))).status, 200);
    });

    it('answers 429 with retry-after, in the merchant envelope, after repeated wrong private keys for one public key', async () => {
      for (let i = 0; i < 3; i++) assert.equal((await login(t, basic(m.publicKey, `sk_wrong_${i}`))).status, 401);
      const limited = await login(t, basic(m.publicKey, 'sk_wrong_again'));
      assert.equal(limited.status, 429, limited.text);
      assert.ok(Number(limited.headers['retry-after']) >= 1, String(limited.headers['retry-after']));
      assert.deepEqual(Object.keys(limited.body).sort(), ['code', 'message', 'param', 'request_id']);
      assert.equal(limited.body.code, 'rate_limited');
      // Even the right key pair waits out the window from this address: guessing must not pay off.
      assert.equal((await login(t, basic(m.publicKey, m.privateKey))).status, 429);
      // Another merchant's public key is another budget.
      assert.equal((await login(t, basic(other.publicKey, other.privateKey))).status, 200);
    });

    it('answers 429 in the /cof/v1 envelope after repeated wrong API keys', async () => {
      const psp = await createCofMerchant(t);
      for (let i = 0; i < 3; i++) {
        const res = await cof(t, { ...psp, auth: `APIKEY sk_guess_${i}` }, 'GET', '/cof/v1/tokens/nope');
        assert.equal(res.status, 401);
      }
      const limited = await cof(t, { ...psp, auth: 'APIKEY sk_guess_more' }, 'GET', '/cof/v1/tokens/nope');
      assert.equal(limited.status, 429, limited.text);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.deepEqual(limited.body, { errorCode: 'rate_limited', message: limited.body.message });
    });
  });

  describe(`OAuth assertion limits and JWT confusion on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;
    let m: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine, { TESSERA_AUTH_FAILURES_MAX: '3' });
      issuer = await createIssuer(t);
      other = await createIssuer(t);
      m = await createMerchant(t);
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('refuses alg none, an HS256 assertion keyed by the public key (HS/RS confusion) and an RS256 one, without a token', async () => {
      const now = Math.floor(Date.now() / 1000);
      const claims = { jti: 'x', aud: TOKEN_URL };
      const none = new UnsecuredJWT(claims).setIssuer(issuer.issuerId).setIssuedAt(now).setExpirationTime(now + 300).encode();
      const hs = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: issuer.sig.kid })
        .setIssuer(issuer.issuerId).setIssuedAt(now).setExpirationTime(now + 300)
        .sign(new TextEncoder().encode(JSON.stringify(issuer.sig.jwk)));
      const rsa = await generateKeyPair('RS256');
      const rs = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: issuer.sig.kid }).setIssuer(issuer.issuerId).setIssuedAt(now).setExpirationTime(now + 300).sign(rsa.privateKey);
      for (const jwt of [none, hs, rs]) {
        const res = await requestToken(t, jwt);
        assert.ok(res.status === 400 || res.status === 401, `${res.status} ${res.text}`);
        assert.ok(['invalid_grant', 'invalid_client'].includes(res.body.error));
        assert.equal(res.body.access_token, undefined);
      }
    });

    it("refuses the merchant face's JWT signed RS256 or HS512, and an issuer's access token on /api or for another issuer (401)", async () => {
      const now = Math.floor(Date.now() / 1000);
      const rsa = await generateKeyPair('RS256');
      const rs = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setSubject(m.id).setIssuer('tessera').setAudience('tessera:merchant-api').setExpirationTime(now + 600).sign(rsa.privateKey);
      const hs512 = await new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject(m.id).setIssuer('tessera').setAudience('tessera:merchant-api').setExpirationTime(now + 600).sign(new Uint8Array(64));
      for (const jwt of [rs, hs512, issuer.token, `Bearer ${issuer.token}`]) {
        const res = await call(t, jwt, 'GET', '/api/audit');
        assert.equal(res.status, 401, res.text);
        assert.equal(res.body.code, 'unauthorized');
      }
      const foreign = await banking(t, other, 'GET', '/cards/any', undefined, { issuerId: issuer.issuerId });
      assert.equal(foreign.status, 401);
      // A merchant JWT is no issuer token either.
      const merchantOnBanking = await call(t, `Bearer ${m.jwt}`, 'GET', `/banking/v1/issuers/${issuer.issuerId}/cards/any`);
      assert.equal(merchantOnBanking.status, 401);
    });

    it('answers 429 with retry-after in the OAuth envelope after repeated bad assertions for one issuer', async () => {
      // The confusion test above spent this issuer's budget of 3 failures already.
      const limited = await requestToken(t, await assertion(issuer, { expiresInS: -60 }));
      assert.equal(limited.status, 429, limited.text);
      assert.ok(Number(limited.headers['retry-after']) >= 1);
      assert.deepEqual(Object.keys(limited.body).sort(), ['error', 'error_description']);
      // Another issuer is another budget, and its good assertions are never counted.
      for (let i = 0; i < 4; i++) assert.equal((await requestToken(t, await assertion(other))).status, 200);
    });
  });

  describe(`security headers on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine);
    });
    after(async () => {
      await t.close();
    });

    it('sends helmet headers on every face, and /docs still renders under its own CSP', async () => {
      for (const url of ['/health', '/api/audit', '/cof/v1/keys', '/banking/v1/keys']) {
        const res = await t.app.inject({ method: 'GET', url });
        assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
        assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/, url);
        assert.match(String(res.headers['content-security-policy']), /default-src 'self'/, url);
        assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url);
      }
      const docs = await t.app.inject({ method: 'GET', url: '/docs/' });
      assert.equal(docs.statusCode, 200);
      assert.match(docs.body, /swagger-ui-bundle\.js/);
      assert.doesNotMatch(docs.body, /<script>(?!\s*<\/script>)/, 'no inline script for the CSP to block');
      const csp = String(docs.headers['content-security-policy']);
      assert.match(csp, /script-src 'self'/);
      for (const asset of ['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-initializer.js', '/docs/json']) {
        assert.equal((await t.app.inject({ method: 'GET', url: asset })).statusCode, 200, asset);
      }
    });
  });
}
