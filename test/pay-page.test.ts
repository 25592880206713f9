import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, orderBody } from './support/orders.ts';

const SELF = 'http://127.0.0.1:8080';

/** What the payment page's card frame sends (same origin). */
function payOrder(t: Instance, id: string, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call(t, undefined, 'POST', `/pay/${id}/payments`, { body, headers: { host: '127.0.0.1:8080', origin: SELF, 'sec-fetch-site': 'same-origin', ...headers } });
}

for (const engine of ENGINES) {
  describe(`the hosted payment page on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t, 'Café Tessera');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('shows the lines, the total and the plans the order offers, in Spanish or English, under a strict CSP', async () => {
      const o = (await createOrder(t, m, orderBody({ installment_options: { installments: [6, 3] } }))).body;
      assert.deepEqual(o.installment_options, { installments: [3, 6], fixed_installments: false });
      const es = await t.app.inject({ method: 'GET', url: `/pay/${o.id}?lang=es` });
      assert.equal(es.statusCode, 200);
      assert.match(es.body, /<html lang="es">/);
      assert.match(es.body, /Café Tessera/);
      assert.match(es.body, /Coffee beans 1 kg/);
      assert.match(es.body, /\$301\.00 MXN/);
      assert.match(es.body, /3 meses sin intereses · \$100\.34 MXN/);
      assert.match(es.body, /6 meses sin intereses/);
      const csp = String(es.headers['content-security-policy']);
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /frame-src 'self'/);
      assert.match(csp, /frame-ancestors 'none'/);
      const en = await t.app.inject({ method: 'GET', url: `/pay/${o.id}`, headers: { 'accept-language': 'en-US,en;q=0.9' } });
      assert.match(en.body, /Single payment/);
      assert.match(en.body, /3 months interest-free/);
      const plain = (await createOrder(t, m, orderBody())).body;
      assert.doesNotMatch((await t.app.inject({ method: 'GET', url: `/pay/${plain.id}` })).body, /id="plan"/, 'no plan choice without options');
    });

    it('pays the order from its card frame with the chosen plan, then shows it paid and refuses a second payment', async () => {
      const o = (await createOrder(t, m, orderBody({ redirect_url: 'https://shop.example/thanks', installment_options: { installments: [3, 6] } }))).body;
      const frame = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?order=${o.id}&origin=${encodeURIComponent(SELF)}`, headers: { host: '127.0.0.1:8080' } });
      assert.equal(frame.statusCode, 200);
      assert.match(String(frame.headers['content-security-policy']), /frame-ancestors 'self'/);
      const res = await payOrder(t, o.id, { ...rawCard(), installments: 6 });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.body, { status: 'paid', number: o.number, redirect_url: 'https://shop.example/thanks' });
      const read = (await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body;
      assert.equal(read.status, 'paid');
      assert.equal(read.installments, 6);
      assert.equal(read.payment.status, 'captured');
      assert.equal(read.payment.token_type, 'temporary');
      assert.equal(read.payment.last4, '4242');
      assert.equal(read.totals.captured, 301);
      const again = await payOrder(t, o.id, rawCard());
      assert.deepEqual([again.status, again.body.code], [409, 'order_not_payable']);
      const page = await t.app.inject({ method: 'GET', url: `/pay/${o.id}?lang=en` });
      assert.match(page.body, /Payment received/);
      assert.doesNotMatch(page.body, /id="card"/);
      const refund = await call(t, m.jwt, 'POST', `/api/orders/${o.id}/refunds`, { body: { amount: 1 } });
      assert.equal(refund.status, 201, refund.text);
      assert.match((await t.app.inject({ method: 'GET', url: `/pay/${o.id}?lang=es` })).body, /Este pedido se pagó y se reembolsó en parte\./);
      assert.equal((await call(t, m.jwt, 'POST', `/api/orders/${o.id}/refunds`, {})).status, 201);
      const refunded = (await t.app.inject({ method: 'GET', url: `/pay/${o.id}?lang=en` })).body;
      assert.match(refunded, /<h2>Order refunded<\/h2>/);
      assert.match(refunded, /This order was refunded\./);
      const refusedFrame = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?order=${o.id}&origin=${encodeURIComponent(SELF)}`, headers: { host: '127.0.0.1:8080' } });
      assert.equal(refusedFrame.statusCode, 403);
    });

    it('leaves a declined order unpaid with the decline code, and pays it with another card', async () => {
      const o = (await createOrder(t, m, orderBody())).body;
      const declined = await payOrder(t, o.id, rawCard({ number: CARDS.insufficientFunds }));
      assert.equal(declined.status, 402);
      assert.deepEqual([declined.body.code, declined.body.decline_code], ['insufficient_funds', 'insufficient_funds']);
      const after = (await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body;
      assert.equal(after.status, 'created');
      assert.equal(after.payment.status, 'declined');
      const ok = await payOrder(t, o.id, rawCard({ number: CARDS.mastercard }));
      assert.equal(ok.status, 200, ok.text);
      assert.equal((await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body.payment.brand, 'mastercard');
    });

    it('refuses a plan the order does not offer, bad cards and unknown orders with a code and param', async () => {
      const o = (await createOrder(t, m, orderBody({ installment_options: { installments: [3], fixed_installments: true } }))).body;
      const plan = await payOrder(t, o.id, { ...rawCard(), installments: 12 });
      assert.deepEqual([plan.status, plan.body.code, plan.body.param], [400, 'invalid_installments', 'installments']);
      const none = (await createOrder(t, m, orderBody())).body;
      const noPlans = await payOrder(t, none.id, { ...rawCard(), installments: 3 });
      assert.deepEqual([noPlans.status, noPlans.body.code], [400, 'invalid_installments']);
      const luhn = await payOrder(t, o.id, rawCard({ number: '4242424242424241' }));
      assert.deepEqual([luhn.status, luhn.body.code, luhn.body.param], [400, 'invalid_number', 'number']);
      const expired = await payOrder(t, o.id, rawCard({ exp_year: '2020' }));
      assert.deepEqual([expired.status, expired.body.code], [400, 'card_expired']);
      const unknown = await payOrder(t, 'ffffffffffffffffffffffff', rawCard());
      assert.deepEqual([unknown.status, unknown.body.code], [404, 'order_not_found']);
      const page = await t.app.inject({ method: 'GET', url: '/pay/nope' });
      assert.equal(page.statusCode, 404);
      assert.match(String(page.headers['content-type']), /text\/html/);
      const fixed = await payOrder(t, o.id, { ...rawCard(), installments: 3 });
      assert.equal(fixed.status, 200, fixed.text);
      const read = (await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body;
      assert.deepEqual([read.installments, read.fixed_installments], [3, true]);
    });

    it("refuses payments that do not come from Tessera's own page (another origin, or none)", async () => {
      const o = (await createOrder(t, m, orderBody())).body;
      const foreign = await payOrder(t, o.id, rawCard(), { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' });
      assert.deepEqual([foreign.status, foreign.body.code], [403, 'origin_not_allowed']);
      const bare = await call(t, undefined, 'POST', `/pay/${o.id}/payments`, { body: rawCard() });
      assert.deepEqual([bare.status, bare.body.code], [403, 'origin_not_allowed']);
      const frame = await t.app.inject({ method: 'GET', url: `/elements/v1/card-frame?order=${o.id}&origin=${encodeURIComponent('https://evil.example')}` });
      assert.equal(frame.statusCode, 403, 'a frame that pays orders is only for the payment page');
      assert.equal((await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body.status, 'created');
    });

    it('takes exactly one of two payments racing for the same order', async () => {
      const captured = async () =>
        Number((await t.deps.db.kysely.selectFrom('sandbox_authorizations').select((eb) => eb.fn.countAll<number>().as('n')).where('merchant_id', '=', m.id).where('status', '=', 'captured').executeTakeFirstOrThrow()).n);
      const before = await captured();
      const o = (await createOrder(t, m, orderBody())).body;
      const results = await Promise.all([payOrder(t, o.id, rawCard()), payOrder(t, o.id, rawCard({ number: CARDS.mastercard }))]);
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409], results.map((r) => r.text).join(' | '));
      assert.equal(results.find((r) => r.status === 409)!.body.code, 'order_not_payable');
      assert.equal(await captured(), before + 1, 'one capture at the acquirer');
      assert.equal((await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body.totals.captured, 301);
    });

    it('refuses installment options that are not plans', async () => {
      for (const bad of [{ installments: [] }, { installments: [4] }, { installments: [3, 3] }, { months: [3] }]) {
        const res = await createOrder(t, m, orderBody({ installment_options: bad }));
        assert.equal(res.status, 400, JSON.stringify(bad));
        assert.match(res.body.param ?? '', /^installment_options/);
      }
    });
  });
}
