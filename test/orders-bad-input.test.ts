import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { toMinor } from '../src/domain/orders.ts';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, item, orderBody, permanentToken } from './support/orders.ts';

describe('order amounts (domain)', () => {
  it('turns every amount with at most two decimals into exact minor units', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9_999_999_999 }), (minor) => {
        assert.equal(toMinor(minor / 100, 'price'), minor);
      }),
    );
  });

  it('refuses a third decimal rather than rounding it away', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99_999_999 }), fc.integer({ min: 1, max: 9 }), (minor, thousandth) => {
        assert.throws(() => toMinor((minor * 10 + thousandth) / 1000, 'price'), { code: 'invalid_amount' });
      }),
    );
  });
});

for (const engine of ENGINES) {
  describe(`bad input to orders on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    const cases: [string, Record<string, unknown>, number, string, string | null][] = [
      ['an unknown currency', orderBody({ currency: 'XYZ' }), 400, 'invalid_currency', 'currency'],
      ['a zero-decimal currency', orderBody({ currency: 'JPY' }), 400, 'invalid_currency', 'currency'],
      ['no items', orderBody({ items: [] }), 400, 'invalid_field', 'items'],
      ['a negative quantity', orderBody({ items: [item({ quantity: -1 })] }), 400, 'invalid_field', 'items.0.quantity'],
      ['a zero quantity', orderBody({ items: [item({ quantity: 0 })] }), 400, 'invalid_field', 'items.0.quantity'],
      ['a fractional quantity', orderBody({ items: [item(), item({ quantity: 1.5 })] }), 400, 'invalid_field', 'items.1.quantity'],
      ['a price with three decimals', orderBody({ items: [item({ price: 150.505 })] }), 400, 'invalid_amount', 'items.0.price'],
      ['a negative price', orderBody({ items: [item({ price: -1 })] }), 400, 'invalid_amount', 'items.0.price'],
      ['a price as a string', orderBody({ items: [item({ price: '150.50' })] }), 400, 'invalid_field', 'items.0.price'],
      ['a total of zero', orderBody({ items: [item({ price: 0 })] }), 400, 'invalid_amount', 'items'],
      ['a total over the maximum', orderBody({ items: [item({ price: 99_999_999.99, quantity: 2 })] }), 400, 'invalid_amount', 'items.0'],
      ['a card number as an item name', orderBody({ items: [item({ name: `card ${CARDS.visa}` })] }), 400, 'invalid_field', 'items.0.name'],
      ['a notify_url that is not http(s)', orderBody({ notify_url: 'file:///etc/passwd' }), 400, 'invalid_field', 'notify_url'],
      ['an unknown field', orderBody({ amount: 10 }), 400, 'unknown_field', 'amount'],
      ['no currency', { items: [item()] }, 400, 'missing_field', 'currency'],
      ['a token that is no token', orderBody({ token: 'nope' }), 404, 'token_not_found', 'token'],
      ['an unknown customer', orderBody({ customer_id: '0123456789abcdef01234567' }), 404, 'customer_not_found', 'customer_id'],
    ];
    for (const [what, body, status, code, param] of cases) {
      it(`answers ${status} ${code} for ${what}`, async () => {
        const res = await createOrder(t, m, body);
        assert.equal(res.status, status, res.text);
        assert.equal(res.body.code, code);
        if (param !== null) assert.equal(res.body.param, param);
        assert.ok(!res.text.includes(CARDS.visa), 'the card number is never echoed');
      });
    }

    it('refuses refunds with a negative, zero or three-decimal amount', async () => {
      const paid = await createOrder(t, m, orderBody({ token: await permanentToken(t, m) }));
      assert.equal(paid.status, 201, paid.text);
      for (const amount of [-1, 0, 1.005]) {
        const res = await call(t, m.jwt, 'POST', `/api/orders/${paid.body.id}/refunds`, { body: { amount } });
        assert.deepEqual([res.status, res.body.code, res.body.param], [400, 'invalid_amount', 'amount'], `amount ${amount}`);
      }
      const malformed = await call(t, m.jwt, 'POST', `/api/orders/${paid.body.id}/refunds`, { raw: '{"amount":' });
      assert.deepEqual([malformed.status, malformed.body.code], [400, 'invalid_json']);
    });
  });
}
