import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CARDS } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance } from './support/harness.ts';
import { orderBody, temporaryToken } from './support/orders.ts';

for (const engine of ENGINES) {
  describe(`orders after a crash on ${engine}`, () => {
    it('reverses a payment whose request died at the acquirer and leaves the order unpaid', async () => {
      // Latency makes the request still be at the acquirer when the process "dies".
      let t = await startInstance(engine, { TESSERA_SANDBOX_LATENCY_MS: '400' });
      const m = await createMerchant(t);
      const token = await temporaryToken(t, m, { number: CARDS.mastercard, cvc: '987' });
      const inflight = call(t, m.jwt, 'POST', '/api/orders', { body: orderBody({ token }) }).catch(() => undefined);
      const order = await eventually(async () => t.deps.db.kysely.selectFrom('orders').selectAll().where('merchant_id', '=', m.id).executeTakeFirst(), 2000, 'the order row');
      assert.equal(order.payment_status, 'pending');
      // Die after the authorization, while the capture is on its way.
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
  });
}
