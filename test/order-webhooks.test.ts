import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { startReceiver } from './support/cof.ts';
import { sha256Hex } from '../src/vault/master-key.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from './support/orders.ts';

/** What a merchant does to check a delivery: HMAC-SHA256 of "timestamp.webhookId.body" with its webhook secret. */
function verifyPaySignature(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const expected = createHmac('sha256', secret).update(`${headers['x-pay-timestamp']}.${headers['x-pay-webhook-id']}.${body}`).digest('hex');
  return headers['x-pay-signature'] === `SHA256=${expected}`;
}

for (const engine of ENGINES) {
  describe(`merchant webhooks on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let other: MerchantCredentials;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    let notify: Awaited<ReturnType<typeof startReceiver>>;

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
      other = await createMerchant(t, 'Other');
      receiver = await startReceiver();
      notify = await startReceiver();
    });
    after(async () => {
      await receiver.close();
      await notify.close();
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('refuses webhook URLs that are not http(s) and unknown events, with the field at fault', async () => {
      const ftp = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: 'ftp://example.test/hook', events: ['orders.create'] } });
      assert.deepEqual([ftp.status, ftp.body.code, ftp.body.param], [400, 'invalid_field', 'url']);
      const js = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: 'javascript:alert(1)', events: ['orders.create'] } });
      assert.deepEqual([js.status, js.body.param], [400, 'url']);
      const unknown = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: receiver.url, events: ['orders.create', 'orders.explode'] } });
      assert.deepEqual([unknown.status, unknown.body.code, unknown.body.param], [400, 'invalid_field', 'events.1']);
      const none = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: receiver.url, events: [] } });
      assert.deepEqual([none.status, none.body.param], [400, 'events']);
    });

    it('signs every event with x-pay-signature and posts status changes to notify_url', async () => {
      const created = await call(t, m.jwt, 'POST', '/api/webhooks', {
        body: { url: receiver.url, events: ['orders.create', 'orders.update', 'orders.confirmation', 'orders.refund'] },
      });
      assert.equal(created.status, 201, created.text);
      assert.match(created.body.id, /^wh_/);
      const listed = await call(t, m.jwt, 'GET', '/api/webhooks');
      assert.deepEqual(listed.body.data.map((w: { id: string }) => w.id), [created.body.id]);
      assert.deepEqual((await call(t, other.jwt, 'GET', '/api/webhooks')).body.data, []);

      const order = await createOrder(t, m, orderBody({ token: await temporaryToken(t, m), notify_url: notify.url }));
      assert.equal(order.status, 201, order.text);
      await call(t, m.jwt, 'POST', `/api/orders/${order.body.id}/refunds`, { body: { amount: 1 } });

      const events = await eventually(async () => (receiver.received.length >= 5 ? receiver.received : undefined), 5000, 'five webhook deliveries');
      assert.deepEqual(events.map((r) => r.json.event).sort(), ['orders.confirmation', 'orders.create', 'orders.refund', 'orders.update', 'orders.update']);
      for (const r of events) {
        assert.ok(verifyPaySignature(m.webhookSecret, r.headers, r.body), 'a valid x-pay-signature');
        assert.match(String(r.headers['x-pay-timestamp']), /^\d{13}$/, 'milliseconds');
        assert.equal(r.json.data.id, order.body.id);
      }
      assert.ok(!verifyPaySignature(other.webhookSecret, events[0]!.headers, events[0]!.body), "another merchant's secret does not verify");
      const confirmation = events.find((r) => r.json.event === 'orders.confirmation')!;
      assert.equal(confirmation.json.data.status, 'paid');

      const notified = await eventually(async () => (notify.received.length >= 2 ? notify.received : undefined), 5000, 'notify_url deliveries');
      assert.deepEqual(notified.map((r) => `${r.json.event}:${r.json.data.status}`).sort(), ['orders.update:paid', 'orders.update:partially_refunded']);
      assert.ok(notified.every((r) => verifyPaySignature(m.webhookSecret, r.headers, r.body)));
    });

    it('tells token events: creation of either kind and the validation hold released, never the token itself', async () => {
      const tokens = await startReceiver();
      try {
        const fresh = await createMerchant(t, 'Tokens');
        await call(t, fresh.jwt, 'POST', '/api/webhooks', { body: { url: tokens.url, events: ['tokens.create', 'tokens.validation'] } });
        const temporary = await temporaryToken(t, fresh);
        const permanent = await permanentToken(t, fresh, { installments: 3 });
        const got = await eventually(async () => (tokens.received.length >= 3 ? tokens.received : undefined), 5000, 'three token events');
        const summary = got.map((r) => `${r.json.event}:${r.json.data.type}:${r.json.data.validation?.status ?? '-'}`).sort();
        assert.deepEqual(summary, ['tokens.create:permanent:held', 'tokens.create:temporary:-', 'tokens.validation:permanent:released']);
        const hashes = new Set(got.map((r) => r.json.data.token_sha256));
        assert.deepEqual(hashes, new Set([sha256Hex(temporary), sha256Hex(permanent)]));
        for (const r of got) {
          assert.ok(verifyPaySignature(fresh.webhookSecret, r.headers, r.body));
          assert.ok(!r.body.includes(temporary) && !r.body.includes(permanent), 'the bearer token is not sent');
          assert.equal(r.json.data.last4, '4242');
        }
      } finally {
        await tokens.close();
      }
    });

    it('retries failed deliveries, records every attempt, and sends a dead one again on request', async () => {
      const flaky = await startReceiver([500, 404]);
      try {
        const hook = await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: flaky.url, events: ['orders.create'] } });
        await createOrder(t, m, orderBody());
        const dead = await eventually(async () => {
          const res = await call(t, m.jwt, 'GET', `/api/webhooks/${hook.body.id}/deliveries`);
          return res.body.data[0]?.status === 'dead' ? res.body.data[0] : undefined;
        }, 5000, 'the delivery to die on 404');
        assert.deepEqual(dead.attempt_log.map((a: { status_code: number; outcome: string }) => [a.status_code, a.outcome]), [[500, 'retry'], [404, 'dead']]);
        assert.equal(flaky.received[0]!.headers['x-pay-webhook-id'], flaky.received[1]!.headers['x-pay-webhook-id'], 'the same id on every attempt');

        const foreign = await call(t, other.jwt, 'POST', `/api/webhooks/${hook.body.id}/deliveries/${dead.id}/retry`);
        assert.deepEqual([foreign.status, foreign.body.code], [404, 'webhook_not_found']);
        const retried = await call(t, m.jwt, 'POST', `/api/webhooks/${hook.body.id}/deliveries/${dead.id}/retry`);
        assert.equal(retried.status, 202, retried.text);
        const delivered = await eventually(async () => {
          const res = await call(t, m.jwt, 'GET', `/api/webhooks/${hook.body.id}/deliveries`);
          return res.body.data[0]?.status === 'delivered' ? res.body.data[0] : undefined;
        }, 5000, 'the retried delivery');
        assert.equal(delivered.attempts, 3);
        assert.equal(flaky.received.length, 3);

        const missing = await call(t, m.jwt, 'POST', `/api/webhooks/${hook.body.id}/deliveries/msg_nope/retry`);
        assert.deepEqual([missing.status, missing.body.code], [404, 'delivery_not_found']);
        assert.equal((await call(t, other.jwt, 'DELETE', `/api/webhooks/${hook.body.id}`)).status, 404);
        assert.equal((await call(t, m.jwt, 'DELETE', `/api/webhooks/${hook.body.id}`)).status, 200);
        assert.equal((await call(t, m.jwt, 'GET', `/api/webhooks/${hook.body.id}/deliveries`)).status, 404);
      } finally {
        await flaky.close();
      }
    });
  });
}
