import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJwt } from 'jose';
import { call, closeAndScan, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { assertion, banking, createIssuer, personal, requestToken, signingKeyPair, type TestIssuer } from './support/issuer.ts';

for (const engine of ENGINES) {
  describe(`issuer OAuth (POST /authz/v1/oauth2/token) and bearer access on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;

    before(async () => {
      t = await startInstance(engine);
      issuer = await createIssuer(t);
      other = await createIssuer(t);
    });
    after(async () => assert.deepEqual(await closeAndScan(t), []));

    it('creates issuers with 10-alphanumeric ids', () => {
      assert.match(issuer.issuerId, /^[A-Za-z0-9]{10}$/);
      assert.notEqual(issuer.issuerId, other.issuerId);
    });

    it('answers a 15-minute bearer access token for a valid ES256 assertion, not cacheable', async () => {
      const res = await requestToken(t, await assertion(issuer));
      assert.equal(res.status, 200, res.text);
      assert.equal(res.body.token_type, 'Bearer');
      assert.equal(res.body.expires_in, 900);
      assert.equal(res.headers['cache-control'], 'no-store');
      const claims = decodeJwt(res.body.access_token);
      assert.equal(claims.sub, issuer.issuerId);
      assert.equal(Number(claims.exp) - Number(claims.iat), 900);
    });

    it('accepts an assertion without aud or jti', async () => {
      const res = await requestToken(t, await assertion(issuer, { claims: { aud: undefined, jti: undefined } }));
      assert.equal(res.status, 200, res.text);
    });

    it('accepts any key the issuer registered (rotation) and refuses a retired one', async () => {
      const next = await signingKeyPair('sig-next');
      await t.deps.services.issuers.addKey(issuer.issuerId, next.jwk);
      assert.equal((await requestToken(t, await assertion(issuer, { kid: 'sig-next', key: next.privateKey }))).status, 200);
      assert.equal((await requestToken(t, await assertion(issuer))).status, 200, 'the old key still works');
      await t.deps.services.issuers.retireKey(issuer.issuerId, 'sig-next');
      const res = await requestToken(t, await assertion(issuer, { kid: 'sig-next', key: next.privateKey }));
      assert.equal(res.status, 401);
      assert.equal(res.body.error, 'invalid_client');
    });

    const refusals: [string, () => Promise<Awaited<ReturnType<typeof requestToken>>>, number, string][] = [
      ['a key of another issuer (kid unknown to this issuer)', async () => requestToken(t, await assertion(issuer, { kid: other.sig.kid, key: other.sig.privateKey })), 401, 'invalid_client'],
      ['a registered kid but the wrong private key', async () => requestToken(t, await assertion(issuer, { key: other.sig.privateKey })), 400, 'invalid_grant'],
      ['an unknown issuer', async () => requestToken(t, await assertion({ issuerId: 'ZZZZZZZZZZ', sig: issuer.sig })), 401, 'invalid_client'],
      ['an expired assertion', async () => requestToken(t, await assertion(issuer, { expiresInS: -60 })), 400, 'invalid_grant'],
      ['an assertion living longer than 15 minutes', async () => requestToken(t, await assertion(issuer, { expiresInS: 16 * 60 })), 400, 'invalid_grant'],
      ['an aud that is not the token URL', async () => requestToken(t, await assertion(issuer, { claims: { aud: 'https://elsewhere.example/token' } })), 400, 'invalid_grant'],
      ['a sub that is not the issuer', async () => requestToken(t, await assertion(issuer, { claims: { sub: other.issuerId } })), 400, 'invalid_grant'],
      ['a missing assertion', async () => requestToken(t, undefined), 400, 'invalid_request'],
      ['a missing grant_type', async () => requestToken(t, await assertion(issuer), null), 400, 'invalid_request'],
      ['another grant type', async () => requestToken(t, await assertion(issuer), 'client_credentials'), 400, 'unsupported_grant_type'],
      ['an assertion that is not a JWT', async () => requestToken(t, 'not-a-jwt'), 400, 'invalid_grant'],
      ['a JSON body instead of a form', async () => call(t, undefined, 'POST', '/authz/v1/oauth2/token', { body: { grant_type: 'x' } }), 415, 'invalid_request'],
    ];
    for (const [what, send, status, error] of refusals) {
      it(`refuses ${what} with ${status} ${error}`, async () => {
        const res = await send();
        assert.equal(res.status, status, res.text);
        assert.equal(res.body.error, error);
        assert.equal(typeof res.body.error_description, 'string');
        assert.deepEqual(Object.keys(res.body).sort(), ['error', 'error_description']);
      });
    }

    it('refuses a replayed jti, once used', async () => {
      const jwt = await assertion(issuer, { claims: { jti: 'once-only' } });
      assert.equal((await requestToken(t, jwt)).status, 200);
      const again = await requestToken(t, jwt);
      assert.equal(again.status, 400);
      assert.equal(again.body.error, 'invalid_grant');
      assert.match(again.body.error_description, /already used/);
    });

    it('requires the bearer token on every /banking/v1/issuers call, and only for its own issuerId (401)', async () => {
      const body = { personalInformation: personal() };
      assert.equal((await banking(t, issuer, 'PUT', '/consumers/c1', body)).status, 201);
      const none = await banking(t, undefined, 'PUT', '/consumers/c1', body, { issuerId: issuer.issuerId });
      assert.equal(none.status, 401);
      assert.equal(none.body.errorCode, 'unauthorized');
      assert.ok(none.body.requestId);
      const foreign = await banking(t, other, 'PUT', '/consumers/c1', body, { issuerId: issuer.issuerId });
      assert.equal(foreign.status, 401);
      const forged = await banking(t, { issuerId: issuer.issuerId, token: issuer.token.slice(0, -3) + 'AAA' }, 'GET', '/cards/x');
      assert.equal(forged.status, 401);
    });

    it("publishes Tessera's EC P-256 ECDH-ES key without authentication, and no private part", async () => {
      const res = await call(t, undefined, 'GET', '/banking/v1/keys');
      assert.equal(res.status, 200);
      const [key] = res.body.keys;
      assert.equal(key.kty, 'EC');
      assert.equal(key.crv, 'P-256');
      assert.equal(key.alg, 'ECDH-ES');
      assert.equal(key.use, 'enc');
      assert.equal(key.d, undefined);
      const cof = await call(t, undefined, 'GET', '/cof/v1/keys');
      assert.equal(cof.body.keys[0].kty, 'RSA', 'the /cof/v1 ring is untouched');
    });

    it('documents the issuer routes, including the escaped-colon enrolment path', async () => {
      const doc = (await call(t, undefined, 'GET', '/openapi.json')).body;
      for (const path of [
        '/authz/v1/oauth2/token',
        '/banking/v1/keys',
        '/banking/v1/issuers/{issuerId}/consumers/{consumerId}',
        '/banking/v1/issuers/{issuerId}/cards/{cardId}',
        '/banking/v1/issuers/{issuerId}/cards/{cardId}/operations:clickToPayEnrolment',
        '/banking/v1/issuers/{issuerId}/tokens/{tokenId}/transactions',
      ]) {
        assert.ok(doc.paths[path], path);
      }
      assert.ok(doc.components.securitySchemes.issuerBearer);
    });
  });
}
