import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { luhnValid } from '../src/domain/card.ts';
import { CARDS, findPans, TEST_PANS } from './support/cards.ts';
import { call, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, merchantKeyPair, type CofMerchant } from './support/cof.ts';

for (const engine of ENGINES) {
  describe(`POST /cof/v1/transactions and the sandbox acquirer on ${engine}`, () => {
    let t: Instance;
    let m: CofMerchant;
    let keys: Awaited<ReturnType<typeof merchantKeyPair>>;
    /** Token PANs seen in decrypted credentials: scanned for in the logs and the database too. */
    const tokenPans: string[] = [];

    const createToken = async (pan: string) => {
      const res = await cof(t, m, 'POST', '/cof/v1/tokens', {
        body: { merchantId: m.id, encryptedData: await encryptToTessera(t, cardPayload(pan)), source: 'MANUAL' },
      });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const transaction = async (tokenId: string, merchant = m) => cof(t, merchant, 'POST', '/cof/v1/transactions', { body: { tokenId, transactionType: 'SINGLE' } });
    const credentials = async (tokenId: string) => {
      const res = await transaction(tokenId);
      assert.equal(res.status, 201, res.text);
      const data = await keys.decrypt(res.body.encryptedData);
      tokenPans.push(data.tokenPan!);
      return { res, data };
    };
    const authorize = async (data: Record<string, string>, extra: Record<string, unknown> = {}, merchant = m) =>
      cof(t, merchant, 'POST', '/sandbox/v1/authorizations', {
        body: { merchantId: merchant.id, tokenPan: data.tokenPan, tokenExpiryDate: data.tokenExpiryDate, cryptogram: data.cryptogram, amount: 1999, currency: 'MXN', ...extra },
      });

    before(async () => {
      t = await startInstance(engine);
      m = await createCofMerchant(t);
      keys = await merchantKeyPair();
    });
    after(async () => {
      TEST_PANS.push(...tokenPans);
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()));
      await t.close();
      assert.deepEqual(leaked, [], 'no card or token PAN in the logs or the database');
    });

    it('refuses credentials until the merchant registered a key; refuses a private key or a non-RSA key', async () => {
      const token = await createToken(CARDS.visa);
      const res = await transaction(token.tokenId);
      assert.equal(res.status, 409);
      assert.equal(res.body.errorCode, 'encryption_key_required');
      const privateJwk = { keys: [{ ...keys.jwks.keys[0], d: 'AAAA' }] };
      const bad = await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { jwks: privateJwk } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.errorCode, 'invalid_jwks');
      const ec = await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { jwks: { keys: [{ kty: 'EC', kid: 'x', crv: 'P-256', x: 'a', y: 'b' }] } } });
      assert.equal(ec.status, 400);
      const ok = await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { jwks: keys.jwks } });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.body.jwks.keys[0].kid, 'psp-key-1');
    });

    it('issues a token PAN (Luhn-valid, ending in tokenLastDigits, never the FPAN), its expiry and a cryptogram, encrypted to the merchant key', async () => {
      const token = await createToken(CARDS.visa);
      const { res, data } = await credentials(token.tokenId);
      assert.deepEqual(Object.keys(res.body).sort(), ['cryptogramExpiryDate', 'eci', 'encryptedData', 'transactionId']);
      assert.ok(luhnValid(data.tokenPan!));
      assert.ok(data.tokenPan!.endsWith(token.tokenLastDigits));
      assert.notEqual(data.tokenPan, CARDS.visa);
      assert.equal(data.tokenExpiryDate, token.tokenExpiryDate);
      assert.ok(data.cryptogram!.length >= 20);
      assert.match(res.body.eci, /^\d{2}$/);
      assert.ok(Date.parse(res.body.cryptogramExpiryDate) > Date.now());
      assert.ok(!res.text.includes(data.tokenPan!) && !res.text.includes(data.cryptogram!));
    });

    it('the sandbox acquirer approves a fresh cryptogram once and declines its replay', async () => {
      const token = await createToken(CARDS.mastercard);
      const { data } = await credentials(token.tokenId);
      const first = await authorize(data);
      assert.equal(first.status, 200, first.text);
      assert.equal(first.body.status, 'approved');
      assert.equal(first.body.reason, null);
      const replay = await authorize(data);
      assert.deepEqual([replay.body.status, replay.body.reason], ['declined', 'cryptogram_replayed']);
      const next = await credentials(token.tokenId);
      assert.equal((await authorize(next.data)).body.status, 'approved', 'each transaction gets its own cryptogram');
    });

    it('declines an expired cryptogram, a made-up one, a wrong expiry, and a token used by another merchant', async () => {
      const token = await createToken(CARDS.visa);
      const expired = await credentials(token.tokenId);
      await t.deps.db.kysely.updateTable('sandbox_cryptograms').set({ expires_at: Date.now() - 1 }).where('used_at', 'is', null).execute();
      assert.equal((await authorize(expired.data)).body.reason, 'cryptogram_expired');
      const { data } = await credentials(token.tokenId);
      assert.equal((await authorize({ ...data, cryptogram: Buffer.alloc(20, 7).toString('base64') })).body.reason, 'invalid_cryptogram');
      assert.equal((await authorize({ ...data, tokenExpiryDate: '0199' })).body.reason, 'invalid_expiry');
      const other = await createCofMerchant(t, { name: 'Thief' });
      assert.equal((await authorize(data, {}, other)).body.reason, 'invalid_token');
      const mismatch = await authorize(data, { merchantId: other.id });
      assert.equal(mismatch.status, 404);
    });

    it('declines a cryptogram whose token was suspended or deleted after it was issued, and uses the cryptogram up', async () => {
      for (const action of ['suspend', 'delete'] as const) {
        const token = await createToken(CARDS.mastercard); // a new token per request
        const { data } = await credentials(token.tokenId);
        const changed = await cof(t, m, action === 'delete' ? 'DELETE' : 'POST', `/cof/v1/tokens/${token.tokenId}${action === 'delete' ? '' : '/suspend'}`);
        assert.equal(changed.status, 200, changed.text);
        const res = await authorize(data);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual([res.body.status, res.body.reason], ['declined', 'token_inactive'], action);
        assert.equal((await authorize(data)).body.reason, 'cryptogram_replayed', action);
      }
    });

    it('the issuer decides on the funding card: insufficient funds is declined at payment, not at tokenization', async () => {
      const token = await createToken(CARDS.insufficientFunds);
      const { data } = await credentials(token.tokenId);
      const res = await authorize(data);
      assert.deepEqual([res.body.status, res.body.reason], ['declined', 'insufficient_funds']);
    });

    it('refuses credentials for suspended or deleted tokens, and declines a cryptogram issued before the suspension', async () => {
      const token = await createToken(CARDS.discover);
      const { data } = await credentials(token.tokenId);
      await cof(t, m, 'POST', `/cof/v1/tokens/${token.tokenId}/suspend`);
      const suspended = await transaction(token.tokenId);
      assert.equal(suspended.status, 409);
      assert.equal(suspended.body.errorCode, 'token_inactive');
      assert.equal((await authorize(data)).body.reason, 'token_inactive');
      await cof(t, m, 'DELETE', `/cof/v1/tokens/${token.tokenId}`);
      assert.equal((await transaction(token.tokenId)).body.errorCode, 'token_inactive');
    });

    it("another merchant's tokenId is not found; a bad transactionType is refused", async () => {
      const token = await createToken(CARDS.visa);
      const other = await createCofMerchant(t, { name: 'Other' });
      const res = await transaction(token.tokenId, other);
      assert.equal(res.status, 404);
      assert.equal(res.body.errorCode, 'token_not_found');
      const bad = await cof(t, m, 'POST', '/cof/v1/transactions', { body: { tokenId: token.tokenId, transactionType: 'RECURRING' } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.errorCode, 'invalid_field');
    });
  });

  describe(`Tessera key rotation on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine);
    });
    after(async () => t.close());

    it('a rotated key stays published and decrypts until retired; the new key comes first', async () => {
      const m = await createCofMerchant(t);
      const oldJwe = await encryptToTessera(t, cardPayload(CARDS.visa));
      const oldKid = (await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys[0].kid;
      const newKid = await t.deps.keys.rotate();
      const jwks = (await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys.map((k: { kid: string }) => k.kid);
      assert.deepEqual(jwks, [newKid, oldKid]);
      const send = (encryptedData: string) => cof(t, m, 'POST', '/cof/v1/tokens', { body: { merchantId: m.id, encryptedData, source: 'MANUAL' } });
      assert.equal((await send(oldJwe)).status, 201, 'the old kid still decrypts');
      assert.equal((await send(await encryptToTessera(t, cardPayload(CARDS.mastercard)))).status, 201);
      assert.ok(await t.deps.keys.retire(oldKid));
      const retired = await send(oldJwe);
      assert.equal(retired.status, 400);
      assert.equal(retired.body.errorCode, 'unknown_key');
      assert.deepEqual((await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys.map((k: { kid: string }) => k.kid), [newKid]);
    });

    it('a restarted process keeps the same keys', async () => {
      const before = (await call(t, undefined, 'GET', '/cof/v1/keys')).body;
      t = await t.restart({});
      assert.deepEqual((await call(t, undefined, 'GET', '/cof/v1/keys')).body, before);
    });
  });
}
