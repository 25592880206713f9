import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sha256Hex } from '../src/vault/master-key.ts';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, item, orderBody, permanentToken, temporaryToken } from './support/orders.ts';

for (const engine of ENGINES) {
  describe(`POST /api/orders on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let other: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine, { TESSERA_PUBLIC_URL: 'https://pay.example.test' });
      m = await createMerchant(t);
      other = await createMerchant(t, 'Other');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('creates an unpaid order with totals in major units and a pay link to the hosted page', async () => {
      const res = await createOrder(t, m, orderBody({ items: [item(), item({ name: 'Mug', quantity: 1, price: 99.99 })], redirect_url: 'https://shop.test/done' }));
      assert.equal(res.status, 201, res.text);
      const o = res.body;
      assert.match(o.id, /^[0-9a-f]{24}$/);
      assert.match(o.number, /^\d{10}$/);
      assert.equal(o.status, 'created');
      assert.deepEqual(o.totals, { subtotal: 400.99, total: 400.99, captured: 0, refunded: 0 });
      assert.deepEqual(o.items[0], { name: 'Coffee beans 1 kg', quantity: 2, price: 150.5, total: 301 });
      assert.equal(o.pay_link, `https://pay.example.test/pay/${o.id}`);
      assert.equal(o.payment, null);
      assert.equal(o.installments, null);

      const page = await t.app.inject({ method: 'GET', url: `/pay/${o.id}` });
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /400\.99 MXN/);
      const read = await call(t, m.jwt, 'GET', `/api/orders/${o.id}`);
      assert.deepEqual(read.body, o);
      const foreign = await call(t, other.jwt, 'GET', `/api/orders/${o.id}`);
      assert.equal(foreign.status, 404);
      assert.equal(foreign.body.code, 'order_not_found');
    });

    it('pays at once with a temporary token, then refuses its second use and erases its CVC', async () => {
      const token = await temporaryToken(t, m);
      const res = await createOrder(t, m, orderBody({ token }));
      assert.equal(res.status, 201, res.text);
      assert.equal(res.body.status, 'paid');
      assert.equal(res.body.pay_link, null);
      assert.deepEqual(
        { ...res.body.payment, authorization_id: undefined },
        { status: 'captured', credential: 'pan', token_type: 'temporary', brand: 'visa', last4: '4242', amount: 301, authorization_id: undefined, decline_code: null },
      );
      const auth = await t.deps.db.kysely.selectFrom('sandbox_authorizations').selectAll().where('id', '=', res.body.payment.authorization_id).executeTakeFirstOrThrow();
      assert.deepEqual({ amount: auth.amount, captured: auth.captured_amount, status: auth.status, currency: auth.currency }, { amount: 30100, captured: 30100, status: 'captured', currency: 'MXN' });
      const row = await t.deps.db.kysely.selectFrom('tokens').selectAll().where('token_hash', '=', sha256Hex(token)).executeTakeFirstOrThrow();
      assert.equal(row.cvc_ct, null, 'the CVC is erased once used');
      assert.notEqual(row.used_at, null);

      const again = await createOrder(t, m, orderBody({ token }));
      assert.equal(again.status, 409);
      assert.deepEqual([again.body.code, again.body.param], ['token_already_used', 'token']);
    });

    it('lets only one of two concurrent orders use a temporary token', async () => {
      const token = await temporaryToken(t, m);
      const orders = async () => Number((await t.deps.db.kysely.selectFrom('orders').select((eb) => eb.fn.countAll<number>().as('n')).where('merchant_id', '=', m.id).executeTakeFirstOrThrow()).n);
      const holds = async () => Number((await t.deps.db.kysely.selectFrom('sandbox_authorizations').select((eb) => eb.fn.countAll<number>().as('n')).where('merchant_id', '=', m.id).executeTakeFirstOrThrow()).n);
      const [ordersBefore, holdsBefore] = [await orders(), await holds()];
      const results = await Promise.all([createOrder(t, m, orderBody({ token })), createOrder(t, m, orderBody({ token })), createOrder(t, m, orderBody({ token }))]);
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 409, 409]);
      assert.equal((await orders()) - ordersBefore, 1, 'the losers left no order behind');
      assert.equal((await holds()) - holdsBefore, 1, 'the card was charged once');
    });

    it('answers 402 with the decline reason and leaves the order created', async () => {
      const token = await temporaryToken(t, m, { number: CARDS.insufficientFunds });
      const res = await createOrder(t, m, orderBody({ token }));
      assert.equal(res.status, 402, res.text);
      assert.equal(res.body.code, 'insufficient_funds');
      assert.equal(res.body.decline_code, 'insufficient_funds');
      assert.equal(res.body.order.status, 'created');
      assert.equal(res.body.order.payment.status, 'declined');
      const read = await call(t, m.jwt, 'GET', `/api/orders/${res.body.order.id}`);
      assert.equal(read.body.status, 'created');
      assert.match(read.body.pay_link, /\/pay\//);
    });

    it("refuses an expired temporary token (410) and another merchant's token (404)", async () => {
      const token = await temporaryToken(t, m);
      await t.deps.db.kysely.updateTable('tokens').set({ expires_at: Date.now() - 1 }).where('token_hash', '=', sha256Hex(token)).execute();
      const expired = await createOrder(t, m, orderBody({ token }));
      assert.deepEqual([expired.status, expired.body.code, expired.body.param], [410, 'token_expired', 'token']);
      const foreign = await createOrder(t, other, orderBody({ token: await temporaryToken(t, m) }));
      assert.deepEqual([foreign.status, foreign.body.code, foreign.body.param], [404, 'token_not_found', 'token']);
    });

    it('pays with a permanent token over its network token once the background upgrade issued one, and falls back to the PAN when it is suspended', async () => {
      const token = await permanentToken(t, m, { installments: 6, fixed_installments: true });
      const first = await createOrder(t, m, orderBody({ token }));
      assert.equal(first.status, 201, first.text);
      assert.deepEqual([first.body.status, first.body.payment.credential, first.body.installments, first.body.fixed_installments], ['paid', 'pan', 6, true]);

      const upgrade = await eventually(async () => {
        const row = await t.deps.db.kysely.selectFrom('network_token_upgrades').selectAll().where('merchant_id', '=', m.id).executeTakeFirst();
        return row?.status === 'issued' ? row : undefined;
      }, 5000, 'the network token upgrade');
      const second = await createOrder(t, m, orderBody({ token }));
      assert.equal(second.status, 201, second.text);
      assert.equal(second.body.payment.credential, 'network_token');
      const auth = await t.deps.db.kysely.selectFrom('sandbox_authorizations').selectAll().where('id', '=', second.body.payment.authorization_id).executeTakeFirstOrThrow();
      const cryptograms = await t.deps.db.kysely.selectFrom('sandbox_cryptograms').selectAll().where('token_id', '=', upgrade.network_token_id!).execute();
      assert.deepEqual(cryptograms.map((c) => c.used_at !== null), [true], 'authorized with a cryptogram, used once');
      const order = await t.deps.db.kysely.selectFrom('orders').selectAll().where('id', '=', second.body.id).executeTakeFirstOrThrow();
      assert.equal(auth.reference, order.payment_reference, "recorded under the order's payment reference: a crash before the order's update leaves a payment the reconciler finds");
      assert.equal(auth.status, 'captured');

      // The network refuses the token while Tessera still holds it active (the notice is yet to
      // come): the same payment goes over the PAN.
      const tspToken = () => t.deps.db.kysely.updateTable('sandbox_tsp_tokens').where('id', '=', upgrade.network_token_id!);
      await tspToken().set({ status: 'SUSPENDED' }).execute();
      const refused = await createOrder(t, m, orderBody({ token }));
      assert.equal(refused.status, 201, refused.text);
      assert.deepEqual([refused.body.status, refused.body.payment.credential], ['paid', 'pan']);
      await tspToken().set({ status: 'ACTIVE' }).execute();

      const suspended = await call(t, `APIKEY ${m.privateKey}`, 'POST', `/cof/v1/tokens/${upgrade.network_token_id}/suspend`, { headers: { 'x-correlation-id': 'suspend-1' } });
      assert.equal(suspended.status, 200, suspended.text);
      const third = await createOrder(t, m, orderBody({ token }));
      assert.equal(third.status, 201, third.text);
      assert.equal(third.body.payment.credential, 'pan');
    });

    it('refunds in part, then the rest; never more than captured, never an unpaid order', async () => {
      const paid = await createOrder(t, m, orderBody({ token: await temporaryToken(t, m) }));
      const id = paid.body.id;
      const part = await call(t, m.jwt, 'POST', `/api/orders/${id}/refunds`, { body: { amount: 100.25 } });
      assert.equal(part.status, 201, part.text);
      assert.equal(part.body.order.status, 'partially_refunded');
      assert.deepEqual([part.body.refund.amount, part.body.refund.status], [100.25, 'succeeded']);
      assert.equal(part.body.order.totals.refunded, 100.25);

      const over = await call(t, m.jwt, 'POST', `/api/orders/${id}/refunds`, { body: { amount: 200.76 } });
      assert.deepEqual([over.status, over.body.code, over.body.param], [400, 'invalid_amount', 'amount']);
      const rest = await call(t, m.jwt, 'POST', `/api/orders/${id}/refunds`, {});
      assert.equal(rest.status, 201, rest.text);
      assert.deepEqual([rest.body.refund.amount, rest.body.order.status, rest.body.order.totals.refunded], [200.75, 'refunded', 301]);
      const more = await call(t, m.jwt, 'POST', `/api/orders/${id}/refunds`, { body: { amount: 1 } });
      assert.deepEqual([more.status, more.body.code], [409, 'order_not_refundable']);

      const refunds = await t.deps.db.kysely.selectFrom('sandbox_refunds').selectAll().where('authorization_id', '=', paid.body.payment.authorization_id).execute();
      assert.equal(refunds.reduce((s, r) => s + Number(r.amount), 0), 30100, 'the acquirer refunded exactly what was captured');

      const unpaid = await createOrder(t, m, orderBody());
      const refused = await call(t, m.jwt, 'POST', `/api/orders/${unpaid.body.id}/refunds`, {});
      assert.deepEqual([refused.status, refused.body.code, refused.body.param], [409, 'order_not_refundable', 'id']);
      const foreign = await call(t, other.jwt, 'POST', `/api/orders/${id}/refunds`, {});
      assert.deepEqual([foreign.status, foreign.body.code], [404, 'order_not_found']);
    });

    it('serializes concurrent refunds of one order so their sum never exceeds the capture', async () => {
      const paid = await createOrder(t, m, orderBody({ token: await temporaryToken(t, m) }));
      const results = await Promise.all(Array.from({ length: 4 }, () => call(t, m.jwt, 'POST', `/api/orders/${paid.body.id}/refunds`, { body: { amount: 100 } })));
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 201, 201, 400]);
      const read = await call(t, m.jwt, 'GET', `/api/orders/${paid.body.id}`);
      assert.deepEqual([read.body.status, read.body.totals.refunded], ['partially_refunded', 300]);
    });

    it('lists orders newest first, filtered by status, page by page', async () => {
      const fresh = await createMerchant(t, 'Lister');
      for (let i = 0; i < 3; i++) await createOrder(t, fresh, orderBody());
      await createOrder(t, fresh, orderBody({ token: await temporaryToken(t, fresh) }));
      const page1 = await call(t, fresh.jwt, 'GET', '/api/orders?limit=2');
      assert.equal(page1.status, 200, page1.text);
      assert.equal(page1.body.data.length, 2);
      assert.equal(page1.body.data[0].status, 'paid', 'newest first');
      const page2 = await call(t, fresh.jwt, 'GET', `/api/orders?limit=2&cursor=${page1.body.next_cursor}`);
      assert.equal(page2.body.data.length, 2);
      assert.equal(page2.body.next_cursor, null);
      const ids = new Set([...page1.body.data, ...page2.body.data].map((o: { id: string }) => o.id));
      assert.equal(ids.size, 4);
      const created = await call(t, fresh.jwt, 'GET', '/api/orders?status=created');
      assert.equal(created.body.data.length, 3);
      const bad = await call(t, fresh.jwt, 'GET', '/api/orders?cursor=nope');
      assert.deepEqual([bad.status, bad.body.param], [400, 'cursor']);
    });
  });
}
