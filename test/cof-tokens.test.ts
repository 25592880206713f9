import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { testCard } from '../src/sandbox/test-cards.ts';
import { CARDS, findPans, TEST_PANS } from './support/cards.ts';
import { call, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, type CofMerchant } from './support/cof.ts';

const PAR = /^[0-9A-Z]{29}$/;

for (const engine of ENGINES) {
  describe(`POST /cof/v1/tokens on ${engine}`, () => {
    let t: Instance;
    let m: CofMerchant;
    let other: CofMerchant;

    const create = async (merchant: CofMerchant, payload: unknown, source = 'MANUAL', correlationId?: string) =>
      cof(t, merchant, 'POST', '/cof/v1/tokens', {
        body: { merchantId: merchant.id, encryptedData: await encryptToTessera(t, payload), source },
        ...(correlationId ? { correlationId } : {}),
      });

    before(async () => {
      t = await startInstance(engine);
      m = await createCofMerchant(t);
      other = await createCofMerchant(t, { name: 'Other PSP' });
    });
    after(async () => {
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()));
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs or the database');
    });

    it('publishes an RSA-OAEP-256 encryption key with a kid, without authentication', async () => {
      const res = await call(t, undefined, 'GET', '/cof/v1/keys');
      assert.equal(res.status, 200);
      const [key] = res.body.keys;
      assert.equal(key.kty, 'RSA');
      assert.equal(key.use, 'enc');
      assert.equal(key.alg, 'RSA-OAEP-256');
      assert.ok(key.kid.length > 0);
      assert.equal(key.d, undefined, 'no private part');
    });

    it('documents the /cof/v1 and /sandbox/v1 routes in the OpenAPI document, tagged', async () => {
      const doc = (await call(t, undefined, 'GET', '/openapi.json')).body;
      for (const path of ['/cof/v1/tokens', '/cof/v1/async-tokens', '/cof/v1/tokens/{tokenId}/suspend', '/cof/v1/transactions', '/cof/v1/keys', '/sandbox/v1/authorizations']) {
        assert.ok(doc.paths[path], path);
      }
      assert.deepEqual(doc.paths['/cof/v1/tokens'].post.tags, ['network tokens']);
      assert.ok(doc.components.securitySchemes.cofApiKey);
    });

    it('creates an ACTIVE Visa token with metadata, echoing the correlation id, and never the PAN', async () => {
      const res = await create(m, cardPayload(CARDS.visa), 'MANUAL', 'order-42');
      assert.equal(res.status, 201, res.text);
      assert.equal(res.headers['x-correlation-id'], 'order-42');
      const b = res.body;
      assert.equal(b.tokenStatus, 'ACTIVE');
      assert.equal(b.network, 'VISA');
      assert.equal(b.cardBin, '424242');
      assert.equal(b.cardLastDigits, '4242');
      assert.equal(b.cardExpiryDate, '1234');
      assert.match(b.tokenLastDigits, /^\d{4}$/);
      assert.match(b.tokenExpiryDate, /^(0[1-9]|1[0-2])\d{2}$/);
      assert.match(b.par, PAR);
      assert.ok(Array.isArray(b.cardArtIds) && b.cardArtIds.length > 0);
      assert.equal(b.issuer.bin, '424242');
      assert.ok(b.issuer.name);
      assert.ok(!res.text.includes(CARDS.visa));
      const get = await cof(t, m, 'GET', `/cof/v1/tokens/${b.tokenId}`);
      assert.deepEqual(get.body, b);
    });

    it('Visa: the same merchant + card + accountId gets the same tokenId; another accountId a new one', async () => {
      const a = await create(m, cardPayload(CARDS.visa, { accountId: 'visa-acct' }));
      const b = await create(m, cardPayload(CARDS.visa, { accountId: 'visa-acct', name: 'A. Lovelace' }), 'ON_FILE');
      const c = await create(m, cardPayload(CARDS.visa, { accountId: 'visa-other' }));
      assert.equal(a.body.tokenId, b.body.tokenId);
      assert.notEqual(a.body.tokenId, c.body.tokenId);
      assert.equal(a.body.par, c.body.par, 'one card, one PAR');
    });

    it('Mastercard: a new tokenId for every request, with one PAR', async () => {
      const a = await create(m, cardPayload(CARDS.mastercard));
      const b = await create(m, cardPayload(CARDS.mastercard));
      assert.equal(a.status, 201);
      assert.equal(a.body.network, 'MASTERCARD');
      assert.notEqual(a.body.tokenId, b.body.tokenId);
      assert.equal(a.body.par, b.body.par);
    });

    it('Amex: the same tokenId for the same merchant + card + accountId + email; email is required', async () => {
      const a = await create(m, cardPayload(CARDS.amex, { email: 'ada@example.com' }));
      const b = await create(m, cardPayload(CARDS.amex, { email: 'ada@example.com' }));
      const c = await create(m, cardPayload(CARDS.amex, { email: 'ada+2@example.com' }));
      assert.equal(a.status, 201, a.text);
      assert.equal(a.body.network, 'AMEX');
      assert.equal(a.body.tokenId, b.body.tokenId);
      assert.notEqual(a.body.tokenId, c.body.tokenId);
      const missing = await create(m, cardPayload(CARDS.amex));
      assert.equal(missing.status, 400);
      assert.equal(missing.body.errorCode, 'missing_email');
    });

    it('the PAR of a card is the same across merchants; token ids are not shared', async () => {
      const mine = await create(m, cardPayload(CARDS.visa, { accountId: 'x' }));
      const theirs = await create(other, cardPayload(CARDS.visa, { accountId: 'x' }));
      assert.equal(mine.body.par, theirs.body.par);
      assert.notEqual(mine.body.tokenId, theirs.body.tokenId);
      const otherCard = await create(m, cardPayload(CARDS.discover));
      assert.notEqual(otherCard.body.par, mine.body.par);
      assert.equal(otherCard.body.network, 'DISCOVER');
    });

    it('source TOKEN tokenizes the card behind a permanent vault token of the same merchant only', async () => {
      const vault = await t.deps.services.tokens.create(m.id, { number: CARDS.mastercardRef, name: 'Ada', exp_month: '11', exp_year: '2033', cvc: '123', tokenization: true });
      assert.ok(vault.ok);
      const res = await create(m, { token: vault.token }, 'TOKEN');
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.cardLastDigits, '2235');
      assert.equal(res.body.cardExpiryDate, '1133');
      const foreign = await create(other, { token: vault.token }, 'TOKEN');
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.errorCode, 'token_not_found');
      const temporary = await t.deps.services.tokens.create(m.id, { number: CARDS.visa, name: 'Ada', exp_month: '11', exp_year: '2033', cvc: '123' });
      assert.ok(temporary.ok);
      const temp = await create(m, { token: temporary.token }, 'TOKEN');
      assert.equal(temp.status, 404, 'a temporary token is not a card on file');
    });

    const declines: [string, string, number][] = [
      [CARDS.declined, 'card_declined', 402],
      [CARDS.lost, 'lost_card', 402],
      [CARDS.stolen, 'stolen_card', 402],
      [testCard('400000', '315', 16), 'authentication_required', 402],
      [testCard('510000', '000', 16), 'card_declined', 402],
      [testCard('400000', '504', 16), 'tsp_unavailable', 503],
      [testCard('400000', '429', 16), 'rate_limited', 429],
    ];
    for (const [pan, code, status] of declines) {
      it(`answers ${status} ${code} for the sandbox card …${pan.slice(-4)} and stores no token`, async () => {
        TEST_PANS.push(pan);
        const before = await t.deps.db.kysely.selectFrom('network_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        const res = await create(m, cardPayload(pan));
        assert.equal(res.status, status, res.text);
        assert.deepEqual(Object.keys(res.body).sort(), ['errorCode', 'message']);
        assert.equal(res.body.errorCode, code);
        if (status === 429 || status === 503) assert.ok(Number(res.headers['retry-after']) >= 1);
        const afterCount = await t.deps.db.kysely.selectFrom('network_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        assert.equal(Number(afterCount.n), Number(before.n));
      });
    }

    it('any other Luhn-valid number is approved and its issuer is its first six digits', async () => {
      const pan = '4539578763621486';
      TEST_PANS.push(pan);
      const res = await create(m, cardPayload(pan));
      assert.equal(res.status, 201);
      assert.equal(res.body.issuer.bin, '453957');
    });

    it('caps each issuer (BIN) at TESSERA_SANDBOX_ISSUER_TPS with a retryable 429, other issuers unaffected', async () => {
      const capped = await startInstance(engine, { TESSERA_SANDBOX_ISSUER_TPS: '2' });
      try {
        const pm = await createCofMerchant(capped);
        const send = async (pan: string) =>
          cof(capped, pm, 'POST', '/cof/v1/tokens', { body: { merchantId: pm.id, encryptedData: await encryptToTessera(capped, cardPayload(pan)), source: 'MANUAL' } });
        const statuses = [];
        for (let i = 0; i < 4; i++) statuses.push((await send(CARDS.mastercard)).status);
        assert.deepEqual(statuses.slice(0, 2), [201, 201]);
        assert.ok(statuses.slice(2).includes(429), `statuses ${statuses}`);
        assert.equal((await send(CARDS.visa)).status, 201, 'another BIN has its own budget');
      } finally {
        await capped.close();
      }
    });
  });

  describe(`bad input on /cof/v1 on ${engine}`, () => {
    let t: Instance;
    let m: CofMerchant;
    let other: CofMerchant;

    before(async () => {
      t = await startInstance(engine);
      m = await createCofMerchant(t);
      other = await createCofMerchant(t, { name: 'Other' });
    });
    after(async () => {
      const stored = await t.storedText();
      const leaked = findPans(t.logs.join('\n') + stored);
      const count = await t.deps.db.kysely.selectFrom('network_tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs or the database');
      assert.equal(Number(count.n), 0, 'nothing stored by any bad request');
    });

    const body = async (payload: unknown, header: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
      merchantId: m.id,
      encryptedData: await encryptToTessera(t, payload, header),
      source: 'MANUAL',
      ...extra,
    });

    const expect = async (res: { status: number; body: any; text: string }, status: number, code: string) => {
      assert.equal(res.status, status, res.text);
      assert.equal(res.body.errorCode, code, res.text);
      assert.deepEqual(Object.keys(res.body).sort(), ['errorCode', 'message']);
      assert.deepEqual(findPans(res.text), []);
    };

    it('refuses a missing, empty or too long x-correlation-id, and no credentials', async () => {
      const b = await body(cardPayload(CARDS.visa));
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: b, correlationId: null }), 400, 'invalid_correlation_id');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: b, correlationId: 'x'.repeat(37) }), 400, 'invalid_correlation_id');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: b, correlationId: 'has space' }), 400, 'invalid_correlation_id');
      const pasted = await cof(t, m, 'POST', '/cof/v1/tokens', { body: b, correlationId: `order-${CARDS.visa}` });
      await expect(pasted, 400, 'invalid_correlation_id');
      assert.ok(!pasted.text.includes(CARDS.visa) && pasted.headers['x-correlation-id'] === undefined, 'a card number in the correlation id is neither echoed nor kept');
      const ok36 = await cof(t, m, 'GET', '/cof/v1/tokens/nope', { correlationId: 'y'.repeat(36) });
      assert.equal(ok36.headers['x-correlation-id'], 'y'.repeat(36));
      await expect(await cof(t, undefined, 'POST', '/cof/v1/tokens', { body: b }), 401, 'unauthorized');
      await expect(await cof(t, { ...m, auth: 'APIKEY sk_wrong' }, 'POST', '/cof/v1/tokens', { body: b }), 401, 'unauthorized');
    });

    it('refuses JWEs that do not parse, use another alg or enc, name an unknown kid, or were tampered with', async () => {
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: { merchantId: m.id, encryptedData: 'not-a-jwe', source: 'MANUAL' } }), 400, 'invalid_encrypted_data');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: { merchantId: m.id, encryptedData: '!!!.a.b.c.d', source: 'MANUAL' } }), 400, 'invalid_encrypted_data');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa), { alg: 'RSA-OAEP' }) }), 400, 'unsupported_algorithm');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa), { enc: 'A128GCM' }) }), 400, 'unsupported_algorithm');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa), { kid: 'someone-else' }) }), 400, 'unknown_key');
      const good = await body(cardPayload(CARDS.visa));
      const parts = good.encryptedData.split('.');
      const ct = Buffer.from(parts[3]!, 'base64url');
      ct[0]! ^= 1;
      parts[3] = ct.toString('base64url');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: { ...good, encryptedData: parts.join('.') } }), 400, 'decryption_failed');
    });

    it('refuses bad card data inside the payload with the field at fault, never echoing it', async () => {
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload('4242424242424241')) }), 400, 'invalid_number');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa, { exp: '1399' })) }), 400, 'invalid_expiry_month');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa, { exp: '0120' })) }), 400, 'card_expired');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body({ exp: '1234' }) }), 400, 'missing_field');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa, { pan: CARDS.visa })) }), 400, 'unknown_field');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.amex, { email: undefined })) }), 400, 'missing_email');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload('6062826786276634')) }), 400, 'network_not_supported');
    });

    it('refuses an unknown source, a merchantId that is not the caller, and another merchant\'s vault token', async () => {
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa), {}, { source: 'SCAN' }) }), 400, 'invalid_field');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body(cardPayload(CARDS.visa), {}, { merchantId: other.id }) }), 404, 'merchant_not_found');
      await expect(await cof(t, m, 'POST', '/cof/v1/async-tokens', { body: await body(cardPayload(CARDS.visa), {}, { merchantId: other.id }) }), 404, 'merchant_not_found');
      const theirs = await t.deps.services.tokens.create(other.id, { number: CARDS.visa, name: 'Ada', exp_month: '11', exp_year: '2033', cvc: '123', tokenization: true });
      assert.ok(theirs.ok);
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: await body({ token: theirs.token }, {}, { source: 'TOKEN' }) }), 404, 'token_not_found');
      await expect(await cof(t, m, 'POST', '/cof/v1/tokens', { body: { merchantId: m.id, source: 'MANUAL' } }), 400, 'missing_field');
      const async = await t.deps.db.kysely.selectFrom('network_token_requests').selectAll().execute();
      assert.equal(async.length, 0);
    });

    it('answers unknown routes and bad JSON on this face in its envelope', async () => {
      await expect(await cof(t, m, 'GET', '/cof/v1/nothing-here'), 404, 'route_not_found');
      const res = await call(t, m.auth, 'POST', '/cof/v1/tokens', { raw: '{"merchantId":', headers: { 'x-correlation-id': 'c1' } });
      await expect(res, 400, 'invalid_json');
    });
  });
}
