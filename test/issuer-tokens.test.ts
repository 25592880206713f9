import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testCard } from '../src/sandbox/test-cards.ts';
import { CARDS } from './support/cards.ts';
import { closeAndScan, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { startReceiver, verifySignature } from './support/cof.ts';
import { assertion, banking, createIssuer, JWT_BEARER, registerCard, signingKeyPair, type TestIssuer } from './support/issuer.ts';

const TSP_TIMEOUT = testCard('400000', '504', 16);

for (const engine of ENGINES) {
  describe(`issuer eCom tokens and transactions on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let cardId: string;
    let tokenId: string;

    const tokenNotes = (reason: string) =>
      receiver.received.filter((r) => r.url === `/notifications/d1/v2/issuers/${issuer.issuerId}/tokens` && r.json.tokens?.[0]?.reason === reason);

    before(async () => {
      receiver = await startReceiver();
      t = await startInstance(engine);
      issuer = await createIssuer(t, { notifyUrl: receiver.url.replace(/\/notifications$/, '') });
      other = await createIssuer(t);
      ({ cardId } = await registerCard(t, issuer, CARDS.visa));
    });
    after(async () => {
      await receiver.close();
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('creates an ACTIVE eCom token through the TSP (201) and notifies the issuer, signed with its secret', async () => {
      const res = await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`);
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.tokenStatus, 'ACTIVE');
      assert.equal(res.body.tokenType, 'ECOM');
      assert.equal(res.body.cardId, cardId);
      assert.match(res.body.tokenLastDigits, /^\d{4}$/);
      assert.match(res.body.tokenExpiryDate, /^(0[1-9]|1[0-2])\d{2}$/);
      assert.match(res.body.par, /^[0-9A-Z]{29}$/);
      tokenId = res.body.tokenId;
      const [note] = await eventually(async () => (tokenNotes('TOKEN_CREATED').length ? tokenNotes('TOKEN_CREATED') : undefined));
      assert.ok(verifySignature(issuer.webhookSecret, note!.headers, note!.body), 'Standard Webhooks signature with the issuer secret');
      assert.equal(note!.json.tokens[0].tokenId, tokenId);
      const list = await banking(t, issuer, 'GET', `/cards/${cardId}/tokens`);
      assert.deepEqual(list.body.tokens.map((x: { tokenId: string }) => x.tokenId), [tokenId]);
    });

    it('issues CNP credentials encrypted (ECDH-ES) to the issuer’s enc key: token PAN, expiry, cryptogram', async () => {
      const res = await banking(t, issuer, 'POST', `/tokens/${tokenId}/transactions`);
      assert.equal(res.status, 201, res.text);
      const creds = await issuer.enc.decrypt(res.body.encryptedData);
      assert.match(creds.tokenPan!, /^\d{16}$/);
      assert.notEqual(creds.tokenPan, CARDS.visa);
      const token = (await banking(t, issuer, 'GET', `/tokens/${tokenId}`)).body;
      assert.ok(creds.tokenPan!.endsWith(token.tokenLastDigits));
      assert.equal(creds.tokenExpiryDate, token.tokenExpiryDate);
      assert.ok(creds.cryptogram);
      assert.ok(!res.text.includes(creds.tokenPan!), 'the token PAN travels only encrypted');
    });

    it('suspends (no credentials then), resumes and deletes, notifying every change', async () => {
      const s = await banking(t, issuer, 'POST', `/tokens/${tokenId}/suspend`);
      assert.equal(s.body.tokenStatus, 'SUSPENDED');
      const refused = await banking(t, issuer, 'POST', `/tokens/${tokenId}/transactions`);
      assert.equal(refused.status, 409);
      assert.equal(refused.body.errorCode, 'token_inactive');
      assert.equal((await banking(t, issuer, 'POST', `/tokens/${tokenId}/resume`)).body.tokenStatus, 'ACTIVE');
      assert.equal((await banking(t, issuer, 'DELETE', `/tokens/${tokenId}`)).body.tokenStatus, 'DELETED');
      const gone = await banking(t, issuer, 'POST', `/tokens/${tokenId}/resume`);
      assert.equal(gone.status, 409);
      for (const reason of ['ISSUER_SUSPENDED', 'ISSUER_RESUMED', 'ISSUER_DELETED']) {
        await eventually(async () => (tokenNotes(reason).length === 1 ? true : undefined), 5000, reason);
      }
    });

    it('hears the network: a card reported lost suspends its tokens and the issuer is told', async () => {
      const fresh = (await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`)).body;
      await t.deps.tsp.issuerEvent(fresh.par, 'CARD_LOST');
      await eventually(async () => ((await banking(t, issuer, 'GET', `/tokens/${fresh.tokenId}`)).body.tokenStatus === 'SUSPENDED' ? true : undefined));
      await eventually(async () => (tokenNotes('CARD_LOST').length ? true : undefined));
    });

    it('answers declines as 402 with the decline code, and a TSP timeout as a retryable 503', async () => {
      const declined = await registerCard(t, issuer, CARDS.declined);
      const d = await banking(t, issuer, 'POST', `/cards/${declined.cardId}/tokens`);
      assert.equal(d.status, 402);
      assert.equal(d.body.errorCode, 'card_declined');
      const slow = await registerCard(t, issuer, TSP_TIMEOUT);
      const s = await banking(t, issuer, 'POST', `/cards/${slow.cardId}/tokens`);
      assert.equal(s.status, 503);
      assert.equal(s.body.errorCode, 'tsp_unavailable');
      assert.equal(s.headers['retry-after'], '1');
    });

    it("another issuer's token is 404; an issuer without an encryption key gets 409 for credentials", async () => {
      const fresh = (await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`)).body;
      for (const [method, path] of [['GET', ''], ['POST', '/suspend'], ['DELETE', ''], ['POST', '/transactions']] as const) {
        const res = await banking(t, other, method, `/tokens/${fresh.tokenId}${path}`);
        assert.equal(res.status, 404, `${method} ${path}`);
        assert.equal(res.body.errorCode, 'token_not_found');
      }
      const sig = await signingKeyPair();
      const bare = await t.deps.services.issuers.create({ name: 'No enc', jwks: [sig.jwk] });
      const { access_token } = await t.deps.services.issuers.token(JWT_BEARER, await assertion({ issuerId: bare.issuerId, sig }));
      const b = { issuerId: bare.issuerId, token: access_token, webhookSecret: '', sig, enc: issuer.enc };
      const card = await registerCard(t, b, CARDS.mastercard);
      const tok = await banking(t, b, 'POST', `/cards/${card.cardId}/tokens`);
      const res = await banking(t, b, 'POST', `/tokens/${tok.body.tokenId}/transactions`);
      assert.equal(res.status, 409);
      assert.equal(res.body.errorCode, 'encryption_key_required');
    });
  });
}
