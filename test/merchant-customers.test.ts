import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';

const person = { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com', phone: '+52 55 1234 5678' };
const card = { number: CARDS.visa, name: 'Ada Lovelace', exp_month: '12', exp_year: '2034' };

for (const engine of ENGINES) {
  describe(`customers and saved cards on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
    });
    after(async () => {
      const leaked = await closeAndScan(t);
      assert.deepEqual(leaked, []);
    });

    it('creates a customer and reads it back', async () => {
      const res = await call(t, m.jwt, 'POST', '/api/customers', { body: person });
      assert.equal(res.status, 201);
      assert.match(res.body.id, /^[0-9a-f]{24}$/);
      assert.equal(res.body.email, 'ada@example.com');
      const read = await call(t, m.jwt, 'GET', `/api/customers/${res.body.id}`);
      assert.deepEqual(read.body, res.body);
    });

    it('saves a card without ever answering its number, and saving it again returns the same card', async () => {
      const customer = (await call(t, m.jwt, 'POST', '/api/customers', { body: person })).body;
      const first = await call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: card });
      assert.equal(first.status, 201);
      assert.equal(first.body.brand, 'visa');
      assert.equal(first.body.last4, '4242');
      assert.equal(first.body.exp_month, '12');
      assert.equal(first.body.exp_year, '2034');
      assert.match(first.body.fingerprint, /^[0-9a-f]{32}$/);
      assert.ok(!first.text.includes(CARDS.visa));

      const again = await call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: { ...card, exp_year: '34', cvc: '123' } });
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);

      const list = await call(t, m.jwt, 'GET', `/api/customers/${customer.id}/cards`);
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.data.map((c: { id: string }) => c.id), [first.body.id]);
    });

    it('saving the same card twice at once still yields one card', async () => {
      const customer = (await call(t, m.jwt, 'POST', '/api/customers', { body: person })).body;
      const results = await Promise.all(
        Array.from({ length: 5 }, () => call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: { ...card, number: CARDS.mastercard } })),
      );
      assert.equal(new Set(results.map((r) => r.body.id)).size, 1);
      const list = await call(t, m.jwt, 'GET', `/api/customers/${customer.id}/cards`);
      assert.equal(list.body.data.length, 1);
    });

    it('the same number with another expiry is another card; the fingerprint of the number stays the same', async () => {
      const customer = (await call(t, m.jwt, 'POST', '/api/customers', { body: person })).body;
      const a = await call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: card });
      const b = await call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: { ...card, exp_year: '2035' } });
      assert.notEqual(a.body.id, b.body.id);
      assert.equal(a.body.fingerprint, b.body.fingerprint);
    });

    it('deletes a saved card; it can no longer be tokenized and its ciphertext is erased', async () => {
      const customer = (await call(t, m.jwt, 'POST', '/api/customers', { body: person })).body;
      const saved = (await call(t, m.jwt, 'POST', `/api/customers/${customer.id}/cards`, { body: card })).body;
      const del = await call(t, m.jwt, 'DELETE', `/api/customers/${customer.id}/cards/${saved.id}`);
      assert.equal(del.status, 200);
      assert.equal((await call(t, m.jwt, 'DELETE', `/api/customers/${customer.id}/cards/${saved.id}`)).status, 404);
      const list = await call(t, m.jwt, 'GET', `/api/customers/${customer.id}/cards`);
      assert.equal(list.body.data.length, 0);
      const token = await call(t, m.jwt, 'POST', '/api/tokens', { body: { id: saved.id, cvc: '123' } });
      assert.equal(token.status, 404);
      assert.equal(token.body.code, 'card_not_found');
      const row = await t.deps.db.kysely.selectFrom('cards').selectAll().where('id', '=', saved.id).executeTakeFirstOrThrow();
      assert.equal(row.card_ct, '');
    });

    it('an unknown customer is a 404', async () => {
      const res = await call(t, m.jwt, 'POST', '/api/customers/000000000000000000000000/cards', { body: card });
      assert.equal(res.status, 404);
      assert.equal(res.body.code, 'customer_not_found');
    });

    it('refuses bad customer fields with the field at fault', async () => {
      const cases: [Record<string, unknown>, string, string][] = [
        [{ ...person, first_name: undefined }, 'missing_field', 'first_name'],
        [{ ...person, email: 'not-an-email' }, 'invalid_field', 'email'],
        [{ ...person, email: 42 }, 'invalid_field', 'email'],
        [{ ...person, nickname: 'x' }, 'unknown_field', 'nickname'],
        [{ ...person, first_name: 'x'.repeat(101) }, 'invalid_field', 'first_name'],
        [{ ...person, last_name: CARDS.visa }, 'invalid_field', 'last_name'],
        [{ ...person, email: `${CARDS.mastercard}@example.com` }, 'invalid_field', 'email'],
      ];
      for (const [body, code, param] of cases) {
        const res = await call(t, m.jwt, 'POST', '/api/customers', { body });
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.code, code);
        assert.equal(res.body.param, param);
      }
    });
  });
}
