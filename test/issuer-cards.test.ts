import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompactEncrypt, exportJWK, generateKeyPair } from 'jose';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { banking, createIssuer, encryptForTessera, personal, registerCard, type TestIssuer } from './support/issuer.ts';

const BAD_LUHN = '4242424242424241';

for (const engine of ENGINES) {
  describe(`issuer consumers and cards (/banking/v1) on ${engine}`, () => {
    let t: Instance;
    let issuer: TestIssuer;
    let other: TestIssuer;

    before(async () => {
      t = await startInstance(engine);
      issuer = await createIssuer(t);
      other = await createIssuer(t);
      await banking(t, issuer, 'PUT', '/consumers/ada', { personalInformation: personal() });
    });
    after(async () => assert.deepEqual(await closeAndScan(t), []));

    const putCard = async (cardId: string, payload: unknown, consumerId = 'ada', header: Record<string, unknown> = {}) =>
      banking(t, issuer, 'PUT', `/cards/${cardId}`, { consumerId, encryptedData: await encryptForTessera(t, payload, header) });

    it('creates a consumer (201), then replaces it (200); email and phone are optional', async () => {
      const created = await banking(t, issuer, 'PUT', '/consumers/bob_1', { personalInformation: { firstName: 'Bob', lastName: 'B' } });
      assert.equal(created.status, 201, created.text);
      assert.deepEqual(created.body, { consumerId: 'bob_1' });
      const replaced = await banking(t, issuer, 'PUT', '/consumers/bob_1', { personalInformation: personal({ firstName: 'Bob' }) });
      assert.equal(replaced.status, 200);
    });

    it('registers a card from a JWE {pan, exp} and shows only its last digits; the same PUT again is 200', async () => {
      const res = await putCard('card-1', { pan: CARDS.visa, exp: '1230' });
      assert.equal(res.status, 201, res.text);
      assert.deepEqual(res.body, { cardId: 'card-1', consumerId: 'ada', network: 'VISA', cardLastDigits: '4242', cardExpiryDate: '1230', clickToPayStatus: 'NOT_ENROLLED' });
      assert.ok(!res.text.includes(CARDS.visa));
      assert.equal((await putCard('card-1', { pan: CARDS.visa, exp: '1230' })).status, 200);
      const get = await banking(t, issuer, 'GET', '/cards/card-1');
      assert.equal(get.body.cardLastDigits, '4242');
    });

    const badCards: [string, () => Promise<{ status: number; body: any; text: string }>, number, string, string | null][] = [
      ['a bad Luhn number', () => putCard('c-luhn', { pan: BAD_LUHN, exp: '1230' }), 400, 'invalid_number', 'encryptedData.pan'],
      ['an expired card', () => putCard('c-exp', { pan: CARDS.visa, exp: '0120' }), 400, 'card_expired', 'encryptedData.exp'],
      ['a missing exp', () => putCard('c-noexp', { pan: CARDS.visa }), 400, 'missing_field', 'encryptedData.exp'],
      ['an unknown payload field', () => putCard('c-extra', { pan: CARDS.visa, exp: '1230', cvv: '123' }), 400, 'unknown_field', 'encryptedData.cvv'],
      ['a card id out of pattern', () => putCard('bad%20id', { pan: CARDS.visa, exp: '1230' }), 400, 'invalid_field', 'cardId'],
      ['a card id too long', () => putCard('x'.repeat(49), { pan: CARDS.visa, exp: '1230' }), 400, 'invalid_field', 'cardId'],
      ['a missing consumer', () => putCard('c-nocons', { pan: CARDS.visa, exp: '1230' }, 'nobody'), 404, 'consumer_not_found', 'consumerId'],
      ['another issuer’s consumer', async () => {
        await banking(t, other, 'PUT', '/consumers/theirs', { personalInformation: personal() });
        return putCard('c-theirs', { pan: CARDS.visa, exp: '1230' }, 'theirs');
      }, 404, 'consumer_not_found', 'consumerId'],
      ['a malformed JWE', () => banking(t, issuer, 'PUT', '/cards/c-jwe', { consumerId: 'ada', encryptedData: 'a.b.c' }), 400, 'invalid_encrypted_data', 'encryptedData'],
      ['a JWE with another algorithm', async () => {
        const jwe = await new CompactEncrypt(new TextEncoder().encode('{}')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'x' }).encrypt(new Uint8Array(32));
        return banking(t, issuer, 'PUT', '/cards/c-alg', { consumerId: 'ada', encryptedData: jwe });
      }, 400, 'unsupported_algorithm', 'encryptedData'],
      ['a JWE on the wrong curve (P-384 ephemeral key)', async () => {
        const good = await encryptForTessera(t, { pan: CARDS.visa, exp: '1230' });
        const header = JSON.parse(Buffer.from(good.split('.')[0]!, 'base64url').toString());
        const { publicKey } = await generateKeyPair('ECDH-ES', { crv: 'P-384', extractable: true });
        header.epk = await exportJWK(publicKey);
        const forged = [Buffer.from(JSON.stringify(header)).toString('base64url'), ...good.split('.').slice(1)].join('.');
        return banking(t, issuer, 'PUT', '/cards/c-curve', { consumerId: 'ada', encryptedData: forged });
      }, 400, 'unsupported_algorithm', 'encryptedData'],
      ['a JWE to an unknown kid', () => putCard('c-kid', { pan: CARDS.visa, exp: '1230' }, 'ada', { kid: 'nope' }), 400, 'unknown_key', 'encryptedData'],
      ['an altered ciphertext', async () => {
        const parts = (await encryptForTessera(t, { pan: CARDS.visa, exp: '1230' })).split('.');
        parts[3] = Buffer.from('tampered tampered').toString('base64url');
        return banking(t, issuer, 'PUT', '/cards/c-tamper', { consumerId: 'ada', encryptedData: parts.join('.') });
      }, 400, 'decryption_failed', 'encryptedData'],
      ['a PAN in a consumer name', () => banking(t, issuer, 'PUT', '/consumers/pan-name', { personalInformation: personal({ firstName: CARDS.mastercard }) }), 400, 'invalid_field', 'personalInformation.firstName'],
      ['a consumer without lastName', () => banking(t, issuer, 'PUT', '/consumers/nolast', { personalInformation: { firstName: 'A' } }), 400, 'missing_field', 'personalInformation.lastName'],
      ['a malformed phone', () => banking(t, issuer, 'PUT', '/consumers/badphone', { personalInformation: personal({ phone: { countryCode: 'MX', number: '1' } }) }), 400, 'invalid_field', 'personalInformation.phone.countryCode'],
    ];
    for (const [what, send, status, code, field] of badCards) {
      it(`refuses ${what}: ${status} ${code}, naming ${field}, nothing written, no PAN echoed`, async () => {
        const res = await send();
        assert.equal(res.status, status, res.text);
        assert.equal(res.body.errorCode, code);
        assert.equal(res.body.field, field);
        assert.equal(typeof res.body.errorDescription, 'string');
        assert.match(res.body.requestId, /^req_/);
        for (const pan of [CARDS.visa, BAD_LUHN, CARDS.mastercard]) assert.ok(!res.text.includes(pan));
      });
    }

    it('nothing half-written: a refused card does not exist afterwards', async () => {
      await putCard('c-half', { pan: BAD_LUHN, exp: '1230' });
      const res = await banking(t, issuer, 'GET', '/cards/c-half');
      assert.equal(res.status, 404);
      assert.equal(res.body.errorCode, 'card_not_found');
    });

    it("another issuer's card id is 404, never 403", async () => {
      const res = await banking(t, other, 'GET', '/cards/card-1');
      assert.equal(res.status, 404);
      assert.equal(res.body.errorCode, 'card_not_found');
      const tokens = await banking(t, other, 'POST', '/cards/card-1/tokens');
      assert.equal(tokens.status, 404);
    });

    it('answers an unknown route under /banking with the banking envelope', async () => {
      const res = await call(t, undefined, 'GET', '/banking/v1/nothing');
      assert.equal(res.status, 404);
      assert.equal(res.body.errorCode, 'route_not_found');
      assert.ok('errorDescription' in res.body);
    });

    it('stores card data only encrypted (registerCard of every brand)', async () => {
      for (const pan of [CARDS.mastercard, CARDS.amex, CARDS.discover]) await registerCard(t, issuer, pan);
      // closeAndScan in `after` proves no PAN in logs or in any stored byte.
    });
  });
}
