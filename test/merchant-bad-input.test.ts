import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';

// Input validation touches no storage difference between engines: SQLite is enough here.
describe('bad input on POST /api/tokens', () => {
  let t: Instance;
  let m: MerchantCredentials;
  before(async () => {
    t = await startInstance('sqlite');
    m = await createMerchant(t);
  });
  after(async () => {
    const leaked = await closeAndScan(t);
    assert.deepEqual(leaked, [], 'no PAN in logs or database');
  });

  const cases: [string, Record<string, unknown>, string, string | null][] = [
    ['bad Luhn', rawCard({ number: '4242424242424241' }), 'invalid_number', 'number'],
    ['letters in the number', rawCard({ number: '4242abcd42424242' }), 'invalid_number', 'number'],
    ['spaces in the number', rawCard({ number: '4242 4242 4242 4242' }), 'invalid_number', 'number'],
    ['too short', rawCard({ number: '42424242' }), 'invalid_number', 'number'],
    ['too long', rawCard({ number: '42424242424242424242' }), 'invalid_number', 'number'],
    ['wrong length for the brand', rawCard({ number: '42424242424242426' }), 'invalid_number', 'number'],
    ['number as a JSON number', rawCard({ number: 4242424242424242 }), 'invalid_number', 'number'],
    ['number huge', rawCard({ number: '4'.repeat(5000) }), 'invalid_number', 'number'],
    ['missing number', rawCard({ number: undefined }), 'missing_field', 'number'],
    ['exp_month 13', rawCard({ exp_month: '13' }), 'invalid_expiry_month', 'exp_month'],
    ['exp_month 00', rawCard({ exp_month: '00' }), 'invalid_expiry_month', 'exp_month'],
    ['exp_month letters', rawCard({ exp_month: 'ab' }), 'invalid_expiry_month', 'exp_month'],
    ['exp_year 3 digits', rawCard({ exp_year: '203' }), 'invalid_expiry_year', 'exp_year'],
    ['expired card', rawCard({ exp_month: '01', exp_year: '2020' }), 'card_expired', 'exp_year'],
    ['missing exp_year', rawCard({ exp_year: undefined }), 'missing_field', 'exp_year'],
    ['2-digit CVC', rawCard({ cvc: '12' }), 'invalid_cvc', 'cvc'],
    ['3-digit CVC on Amex', rawCard({ number: CARDS.amex, cvc: '123' }), 'invalid_cvc', 'cvc'],
    ['letters in CVC', rawCard({ cvc: '1a3' }), 'invalid_cvc', 'cvc'],
    ['CVC as a number', rawCard({ cvc: 123 }), 'invalid_cvc', 'cvc'],
    ['missing CVC with raw details', rawCard({ cvc: undefined }), 'missing_field', 'cvc'],
    ['missing name', rawCard({ name: undefined }), 'missing_field', 'name'],
    ['blank name', rawCard({ name: '   ' }), 'missing_field', 'name'],
    ['a card number in the name', rawCard({ name: CARDS.visa }), 'invalid_name', 'name'],
    ['unknown field', rawCard({ card_number: CARDS.visa }), 'unknown_field', 'card_number'],
    ['cvv instead of cvc', rawCard({ cvc: undefined, cvv: '123' }), 'unknown_field', 'cvv'],
    ['tokenization not a boolean', rawCard({ tokenization: 'yes' }), 'invalid_field', 'tokenization'],
    ['installments 5', rawCard({ installments: 5 }), 'invalid_installments', 'installments'],
    ['fixed_installments not a boolean', rawCard({ fixed_installments: 1 }), 'invalid_field', 'fixed_installments'],
    ['id and card details', { id: '0'.repeat(24), number: CARDS.visa }, 'invalid_request', 'id'],
    ['empty body object', {}, 'missing_field', 'number'],
    ['a card number in source', rawCard({ source: CARDS.visa }), 'invalid_field', 'source'],
    ['a spaced card number in source', rawCard({ source: 'from 4242 4242 4242 4242' }), 'invalid_field', 'source'],
  ];

  for (const [what, body, code, param] of cases) {
    it(`${what} → 400 ${code} on ${param}`, async () => {
      const res = await call(t, m.jwt, 'POST', '/api/tokens', { body });
      assert.equal(res.status, 400, res.text);
      assert.equal(res.body.code, code);
      assert.equal(res.body.param, param);
      assert.match(res.body.request_id, /^req_/);
      assert.equal(typeof res.body.message, 'string');
      assert.ok(!/at .*\.ts:\d+/.test(res.text), 'no stack trace');
      for (const pan of Object.values(CARDS)) assert.ok(!res.text.includes(pan), 'the number is never echoed');
    });
  }

  it('malformed JSON → 400 invalid_json without echoing the body', async () => {
    const res = await call(t, m.jwt, 'POST', '/api/tokens', { raw: `{"number": "${CARDS.visa}", "name": ` });
    assert.equal(res.status, 400);
    assert.equal(res.body.code, 'invalid_json');
    assert.ok(!res.text.includes(CARDS.visa));
  });

  it('a body that is not an object → 400', async () => {
    for (const raw of ['[]', '"4242424242424242"', '42', 'null']) {
      const res = await call(t, m.jwt, 'POST', '/api/tokens', { raw });
      assert.equal(res.status, 400, raw);
      assert.ok(['invalid_request', 'invalid_json'].includes(res.body.code), res.text);
      assert.ok(!res.text.includes(CARDS.visa));
    }
  });

  it('a body over 64 KiB → 413', async () => {
    const res = await call(t, m.jwt, 'POST', '/api/tokens', { raw: JSON.stringify(rawCard({ name: 'x'.repeat(70 * 1024) })) });
    assert.equal(res.status, 413);
    assert.equal(res.body.code, 'payload_too_large');
  });

  it('a body that is not JSON → 415', async () => {
    const res = await call(t, m.jwt, 'POST', '/api/tokens', { raw: `number=${CARDS.visa}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(res.status, 415);
    assert.equal(res.body.code, 'unsupported_media_type');
    assert.ok(!res.text.includes(CARDS.visa));
  });

  it('an unknown route → 404 in the same envelope', async () => {
    const res = await call(t, m.jwt, 'GET', `/api/cards/${CARDS.visa}`);
    assert.equal(res.status, 404);
    assert.equal(res.body.code, 'route_not_found');
    assert.ok(!res.text.includes(CARDS.visa));
  });

  it('generated garbage never gets a 5xx, a stack trace or an echoed number (1,000 requests)', async () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'grapheme', maxLength: 50 }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(CARDS.visa),
      fc.array(fc.string(), { maxLength: 3 }),
      fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }),
    );
    const field = fc.constantFrom('number', 'name', 'exp_month', 'exp_year', 'cvc', 'id', 'tokenization', 'installments', 'fixed_installments', 'source', '__proto__', 'constructor', 'x');
    await fc.assert(
      fc.asyncProperty(fc.dictionary(field, value, { maxKeys: 6 }), fc.boolean(), async (patch, startFromValid) => {
        const body = startFromValid ? { ...rawCard(), ...patch } : patch;
        const res = await call(t, m.jwt, 'POST', '/api/tokens', { raw: JSON.stringify(body) });
        assert.ok(res.status < 500, `${res.status} ${res.text}`);
        assert.ok([201, 400, 402, 404].includes(res.status), `${res.status} ${res.text}`);
        if (res.status !== 201) {
          assert.equal(typeof res.body.code, 'string');
          assert.ok(!res.text.includes(CARDS.visa), 'no PAN echoed');
          assert.ok(!/\.ts:\d+/.test(res.text), 'no stack trace');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
