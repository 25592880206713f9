import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { brandOf, containsPan, luhnValid, validateCvc, validateExpiry, validatePan } from '../src/domain/card.ts';
import { TesseraError } from '../src/domain/errors.ts';
import { newObjectId, newPermanentToken, newTemporaryToken, PERMANENT_TOKEN, TEMPORARY_TOKEN } from '../src/domain/tokens.ts';
import { withCheckDigit } from '../src/sandbox/test-cards.ts';
import { CARDS } from './support/cards.ts';

const NOW = new Date('2026-11-23T12:00:00Z');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof TesseraError ? err.code : 'not a TesseraError';
  }
}

describe('card rules', () => {
  it('detects brands from BIN ranges', () => {
    assert.equal(brandOf(CARDS.visa).brand, 'visa');
    assert.equal(brandOf(CARDS.mastercard).brand, 'mastercard');
    assert.equal(brandOf('2221000000000009').brand, 'mastercard');
    assert.equal(brandOf(CARDS.amex).brand, 'amex');
    assert.equal(brandOf(CARDS.amex).cvcLength, 4);
    assert.equal(brandOf(CARDS.discover).brand, 'discover');
  });

  it('completing any digits with the check digit gives a Luhn-valid number; changing one digit breaks it', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9]{11,18}$/), fc.nat(), (body, at) => {
        const pan = withCheckDigit(body);
        assert.ok(luhnValid(pan));
        const i = at % pan.length;
        const changed = pan.slice(0, i) + String((Number(pan[i]) + 1) % 10) + pan.slice(i + 1);
        assert.ok(!luhnValid(changed));
      }),
    );
  });

  it('accepts the well-known test numbers and refuses bad ones', () => {
    for (const pan of Object.values(CARDS)) assert.equal(code(() => validatePan(pan)), undefined, pan);
    assert.equal(code(() => validatePan('4242424242424241')), 'invalid_number');
    assert.equal(code(() => validatePan('37828224631000')), 'invalid_number');
    assert.equal(code(() => validatePan(undefined)), 'missing_field');
  });

  it('normalizes expiry and refuses past or impossible dates', () => {
    assert.deepEqual(validateExpiry('5', '27', NOW), { expMonth: '05', expYear: '2027' });
    assert.deepEqual(validateExpiry(11, 2026, NOW), { expMonth: '11', expYear: '2026' });
    assert.equal(code(() => validateExpiry('10', '2026', NOW)), 'card_expired');
    assert.equal(code(() => validateExpiry('13', '2030', NOW)), 'invalid_expiry_month');
    assert.equal(code(() => validateExpiry('12', '2099', NOW)), 'invalid_expiry_year');
  });

  it('wants the CVC length of the brand', () => {
    assert.equal(validateCvc('1234', brandOf(CARDS.amex)), '1234');
    assert.equal(code(() => validateCvc('123', brandOf(CARDS.amex))), 'invalid_cvc');
    assert.equal(code(() => validateCvc('1234', brandOf(CARDS.visa))), 'invalid_cvc');
  });

  it('finds card numbers hidden in free text, and leaves ordinary text alone', () => {
    assert.ok(containsPan(CARDS.visa));
    assert.ok(containsPan(`my card 4242-4242-4242-4242 thanks`));
    assert.ok(containsPan(`${CARDS.amex}@example.com`));
    assert.ok(!containsPan('one_click_checkout'));
    assert.ok(!containsPan('+52 55 1234 5678'));
    assert.ok(!containsPan('4242424242424241'));
    fc.assert(fc.property(fc.stringMatching(/^[0-9]{11,14}$/), (body) => !containsPan(`ref-${body.slice(0, 11)}`)));
    // UUIDs (idempotency keys, correlation ids): about 1 in 600 random ones has all-digit groups
    // whose run across the dashes passes Luhn; a UUID's groups are never joined.
    assert.ok(!containsPan('41111111-1111-4111-9111-111111111111'), 'digits in every group of a UUID');
    fc.assert(fc.property(fc.uuid(), (uuid) => !containsPan(uuid) && !containsPan(`order ${uuid.toUpperCase()} retry`)), { numRuns: 20_000 });
    // …but a card number next to a UUID, or written in dashed groups of four, still is one.
    assert.ok(containsPan(`41111111-1111-4111-9111-111111111111, card ${CARDS.visa}`));
    assert.ok(containsPan('4111-1111-1111-1111'));
  });
});

describe('token formats', () => {
  it('temporary tokens are ca_ + 17 lowercase hex, permanent ones 24 lowercase hex, all distinct', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const t = newTemporaryToken();
      const p = newPermanentToken();
      assert.match(t, TEMPORARY_TOKEN);
      assert.match(p, PERMANENT_TOKEN);
      seen.add(t).add(p);
    }
    assert.equal(seen.size, 2000);
    assert.match(newObjectId(), /^[0-9a-f]{24}$/);
  });
});
