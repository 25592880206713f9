import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from './support/orders.ts';

for (const engine of ENGINES) {
  describe(`orders after a crash on ${engine}`, () => {
    // The token an order pays with, on an instance without latency: a card over its PAN, or a
    // permanent token whose card already got its network token (token PAN + cryptogram).
    const paying: Record<'pan' | 'network_token', (t: Instance, m: MerchantCredentials) => Promise<string>> = {
      pan: (t, m) => temporaryToken(t, m, { number: CARDS.mastercard, cvc: '987' }),
      network_token: async (t, m) => {
        const token = await permanentToken(t, m);
        assert.equal((await createOrder(t, m, orderBody({ token }))).status, 201, 'the first payment asks for the network token');
        await eventually(async () => (await t.deps.db.kysely.selectFrom('network_token_upgrades').select('status').where('merchant_id', '=', m.id).executeTakeFirst())?.status === 'issued' || undefined, 5000, 'the network token');
        return token;
      },
    };
    for (const [credential, payingToken] of Object.entries(paying)) {
      it(`reverses a payment over the ${credential === 'pan' ? 'PAN' : 'network token'} whose request died at the ${credential === 'pan' ? 'acquirer' : 'network'} and leaves the order unpaid`, async () => {
        let t = await startInstance(engine);
        const m = await createMerchant(t);
        const token = await payingToken(t, m);
        // Latency makes the request still be at the acquirer when the process "dies".
        t = await t.restart({ TESSERA_SANDBOX_LATENCY_MS: '400' });
        const inflight = call(t, m.jwt, 'POST', '/api/orders', { body: orderBody({ token }) }).catch(() => undefined);
        const order = await eventually(async () => t.deps.db.kysely.selectFrom('orders').selectAll().where('merchant_id', '=', m.id).where('payment_status', '=', 'pending').executeTakeFirst(), 2000, 'the order row');
        // Die after the payment was recorded (one sale: authorize + capture), while its answer is on the way back.
        await eventually(async () => t.deps.db.kysely.selectFrom('sandbox_authorizations').selectAll().where('reference', '=', order.payment_reference!).executeTakeFirst(), 2000, 'the authorization');
        t = await t.restart({ TESSERA_SANDBOX_LATENCY_MS: '0' });
        await inflight;

        // The reconciler only touches payments older than any live request would take: age this one.
        await t.deps.db.kysely.updateTable('orders').set({ updated_at: Date.now() - 10 * 60_000 }).where('id', '=', order.id).execute();
        await t.deps.services.orderPayments.scheduleReconcile();
        t.deps.worker.nudge();
        const settled = await eventually(async () => {
          const o = await t.deps.db.kysely.selectFrom('orders').selectAll().where('id', '=', order.id).executeTakeFirstOrThrow();
          return o.payment_status === 'failed' ? o : undefined;
        }, 5000, 'the reconciler');
        assert.equal(settled.status, 'created');
        const fresh = await t.deps.db.kysely.selectFrom('orders').select('id').where('payment_status', '=', 'pending').execute();
        assert.deepEqual(fresh, []);
        const holds = await t.deps.db.kysely.selectFrom('sandbox_authorizations').selectAll().where('reference', '=', order.payment_reference!).execute();
        assert.deepEqual(holds.map((h) => h.status), ['voided'], 'the authorization is reversed, not left hanging');
        const read = await call(t, (await createMerchant(t, 'x')).jwt, 'GET', `/api/orders/${order.id}`);
        assert.equal(read.status, 404, 'still tenant-isolated after restart');
        assert.deepEqual(await closeAndScan(t), []);
      });
    }

    for (const reached of [false, true]) {
      it(`finishes a refund whose request died ${reached ? 'after the acquirer refunded' : 'before the acquirer answered'}: one refund at the acquirer, the order's amounts right`, async () => {
        let t = await startInstance(engine);
        const m = await createMerchant(t);
        const token = await temporaryToken(t, m, { number: CARDS.mastercard, cvc: '987' });
        const paid = await call(t, m.jwt, 'POST', '/api/orders', { body: orderBody({ token }) });
        assert.equal(paid.status, 201, paid.text);
        assert.equal(paid.body.status, 'paid');
        const orderId = paid.body.id as string;
        const k = () => t.deps.db.kysely;
        const order = await k().selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirstOrThrow();

        // A partial refund whose request is still at the acquirer when the process "dies".
        t = await t.restart({ TESSERA_SANDBOX_LATENCY_MS: '600' });
        const amount = Math.floor(order.captured_amount / 2);
        const inflight = call(t, m.jwt, 'POST', `/api/orders/${orderId}/refunds`, { body: { amount: amount / 100 } }).catch(() => undefined);
        const refund = await eventually(async () => k().selectFrom('order_refunds').selectAll().where('order_id', '=', orderId).executeTakeFirst(), 2000, 'the reserved refund');
        assert.equal(refund.status, 'pending');
        t = await t.restart({ TESSERA_SANDBOX_LATENCY_MS: '0' });
        await inflight;
        assert.deepEqual(await k().selectFrom('sandbox_refunds').selectAll().where('reference', '=', refund.id).execute(), [], 'the dead request never reached the acquirer');
        if (reached) {
          // The other crash window: the acquirer did refund, the process died before marking it done.
          await t.deps.acquirer.refund(order.authorization_id!, refund.id, refund.amount);
        }
        const reserved = await k().selectFrom('orders').selectAll().where('id', '=', orderId).executeTakeFirstOrThrow();
        assert.equal(reserved.refunded_amount, amount, 'the amount stays reserved: no second refund can overdraw it meanwhile');
        assert.equal(reserved.status, 'partially_refunded');

        // The safety-net job (due two minutes after the reservation) finishes it: bring it forward.
        const moved = await k().updateTable('jobs').set({ run_at: Date.now() }).where('unique_key', '=', `refund:${refund.id}`).executeTakeFirst();
        assert.equal(Number(moved.numUpdatedRows), 1, 'the refund has its safety-net job');
        t.deps.worker.nudge();
        const done = await eventually(async () => {
          const r = await k().selectFrom('order_refunds').selectAll().where('id', '=', refund.id).executeTakeFirstOrThrow();
          return r.status === 'succeeded' ? r : undefined;
        }, 5000, 'the refund job');
        assert.ok(done.completed_at);
        const atAcquirer = await k().selectFrom('sandbox_refunds').selectAll().where('reference', '=', refund.id).execute();
        assert.deepEqual(atAcquirer.map((r) => r.amount), [amount], 'exactly one refund at the acquirer');
        assert.deepEqual(await k().selectFrom('jobs').select('id').where('unique_key', '=', `refund:${refund.id}`).execute(), []);
        const read = await call(t, m.jwt, 'GET', `/api/orders/${orderId}`);
        assert.equal(read.status, 200);
        assert.equal(read.body.status, 'partially_refunded');
        // The rest can still be refunded, and no more than the rest.
        const over = await call(t, m.jwt, 'POST', `/api/orders/${orderId}/refunds`, { body: { amount: (order.captured_amount - amount + 1) / 100 } });
        assert.equal(over.status, 400, over.text);
        assert.equal(over.body.param, 'amount');
        const rest = await call(t, m.jwt, 'POST', `/api/orders/${orderId}/refunds`, {});
        assert.equal(rest.status, 201, rest.text);
        assert.equal(rest.body.order.status, 'refunded');
        assert.deepEqual(await closeAndScan(t), []);
      });
    }
  });
}
