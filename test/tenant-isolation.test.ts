import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { routeTable } from '../src/http/route-table.ts';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, encryptToTessera, startReceiver } from './support/cof.ts';
import { orderBody } from './support/orders.ts';
import { banking, encryptForTessera } from './support/issuer.ts';
import { issuerTenant, merchantTenant, type IssuerTenant, type MerchantTenant } from './support/tenants.ts';
import { fillPattern, paramNames } from './support/routes.ts';

/** What tenant B sends at a parameterised route, with tenant A's ids in it. */
interface Probe {
  params: Record<string, string>;
  body?: unknown;
  /** 404 unless told otherwise; PUT upserts create the caller's own resource (201), never touch A's (200). */
  expect?: number;
}

interface World {
  a: MerchantTenant;
  b: MerchantTenant;
  ia: IssuerTenant;
  ib: IssuerTenant;
  t: Instance;
}

/**
 * Every parameterised route, by pattern → how tenant B aims it at tenant A's resources. The test
 * fails if the app has a parameterised route missing here, so a new route joins the matrix or says
 * why it is exempt.
 */
const MATRIX: Record<string, { exempt: string } | ((w: World, method: string) => Promise<Probe[]> | Probe[])> = {
  '/api/customers/:id': ({ a }) => [{ params: { id: a.customerId } }],
  '/api/customers/:id/cards': ({ a }, method) => [{ params: { id: a.customerId }, ...(method === 'POST' ? { body: rawCard({ cvc: undefined }) } : {}) }],
  '/api/customers/:id/cards/:cardId': ({ a, b }) => [{ params: { id: a.customerId, cardId: a.cardId } }, { params: { id: b.customerId, cardId: a.cardId } }],
  '/api/tokens/:token': ({ a }) => [{ params: { token: a.permanentToken } }, { params: { token: a.temporaryToken } }],
  '/api/orders/:id': ({ a }) => [{ params: { id: a.orderId } }],
  '/api/orders/:id/refunds': ({ a }) => [{ params: { id: a.orderId }, body: {} }],
  '/api/webhooks/:id': ({ a }) => [{ params: { id: a.webhookId } }],
  '/api/webhooks/:id/deliveries': ({ a }) => [{ params: { id: a.webhookId } }],
  '/api/webhooks/:id/deliveries/:deliveryId/retry': ({ a, b }) => [
    { params: { id: a.webhookId, deliveryId: a.deliveryId } },
    { params: { id: b.webhookId, deliveryId: a.deliveryId } },
  ],
  '/cof/v1/merchants/:merchantId': ({ a }) => [{ params: { merchantId: a.cm.id }, body: { notificationUrl: 'http://127.0.0.1:9/hijack' } }],
  '/cof/v1/tokens/:tokenId': ({ a }) => [{ params: { tokenId: a.networkTokenId } }],
  '/cof/v1/tokens/:tokenId/suspend': ({ a }) => [{ params: { tokenId: a.networkTokenId } }],
  '/cof/v1/tokens/:tokenId/resume': ({ a }) => [{ params: { tokenId: a.networkTokenId } }],
  '/cof/v1/async-tokens/:requestId': ({ a }) => [{ params: { requestId: a.requestId } }],
  '/cof/v1/batches/:batchId': ({ a }) => [{ params: { batchId: a.batchId } }],
  '/cof/v1/batches/:batchId/results': ({ a }) => [{ params: { batchId: a.batchId } }],
  // The payer's page: a capability URL (a 96-bit random order id) opened without credentials by
  // design, so there is no "other tenant" to isolate from; it shows no card data.
  '/pay/:id': { exempt: 'unauthenticated capability URL for the payer' },
  '/pay/:id/payments': { exempt: 'the payer page paying through its own capability URL (test/pay-page.test.ts)' },
  // The operator dashboard is not a tenant face: operators run the platform and see every tenant, behind
  // their own session and CSRF checks (test/dashboard-auth.test.ts); merchants' and issuers' credentials open nothing there.
  '/dashboard/assets/:name': { exempt: 'the dashboard\'s own stylesheet and script: no tenant data' },
  '/dashboard/tokens/network/:action': { exempt: 'operator-only (operator session + CSRF), every tenant by design' },
  // Upserts by the issuer's own ids: B's PUT with A's ids creates B's own consumer/card (201);
  // a 200 would mean it replaced A's.
  '/banking/v1/issuers/:issuerId/consumers/:consumerId': ({ ia, ib }) => [
    { params: { issuerId: ib.issuer.issuerId, consumerId: ia.consumerId }, body: { personalInformation: { firstName: 'Eve', lastName: 'B' } }, expect: 201 },
  ],
  '/banking/v1/issuers/:issuerId/cards/:cardId': async ({ t, ia, ib }, method) =>
    method === 'PUT'
      ? [{ params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId }, body: { consumerId: ib.consumerId, encryptedData: await encryptForTessera(t, { pan: CARDS.discover, exp: '1230' }) }, expect: 201 }]
      : [{ params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId } }],
  '/banking/v1/issuers/:issuerId/cards/:cardId/tokens': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId } }],
  '/banking/v1/issuers/:issuerId/cards/:cardId/operations::clickToPayEnrolment': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId }, body: {} }],
  '/banking/v1/issuers/:issuerId/cards/:cardId/operations': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId } }],
  '/banking/v1/issuers/:issuerId/cards/:cardId/operations/:operationId': ({ ia, ib }) => [
    { params: { issuerId: ib.issuer.issuerId, cardId: ia.cardId, operationId: ia.operationId } },
    { params: { issuerId: ib.issuer.issuerId, cardId: ib.cardId, operationId: ia.operationId } },
  ],
  '/banking/v1/issuers/:issuerId/tokens/:tokenId': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, tokenId: ia.tokenId } }],
  '/banking/v1/issuers/:issuerId/tokens/:tokenId/suspend': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, tokenId: ia.tokenId } }],
  '/banking/v1/issuers/:issuerId/tokens/:tokenId/resume': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, tokenId: ia.tokenId } }],
  '/banking/v1/issuers/:issuerId/tokens/:tokenId/transactions': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, tokenId: ia.tokenId }, body: {} }],
  // Only the issuer's own id: covered by the "another issuer's issuerId" test below.
  '/banking/v1/issuers/:issuerId/batch-files': () => [],
  '/banking/v1/issuers/:issuerId/batch-files/:batchId': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, batchId: ia.batchId } }],
  '/banking/v1/issuers/:issuerId/batch-files/:batchId/output': ({ ia, ib }) => [{ params: { issuerId: ib.issuer.issuerId, batchId: ia.batchId } }],
};

/** An id of the same shape that nobody owns: the prefix kept, every other character replaced by one of its class. */
function lookalike(id: string): string {
  const pick = (set: string) => set[randomInt(set.length)]!;
  return id.slice(0, 3) + [...id.slice(3)].map((c) => (/[0-9]/.test(c) ? pick('0123456789') : /[a-f]/.test(c) ? pick('abcdef') : /[a-z]/.test(c) ? pick('abcdefghijklmnopqrstuvwxyz') : /[A-Z]/.test(c) ? pick('ABCDEFGHIJKLMNOPQRSTUVWXYZ') : c)).join('');
}

/** B's credentials for the face of `url`. */
function asB(w: World, url: string): Record<string, string> {
  if (url.startsWith('/api/')) return { authorization: w.b.m.jwt };
  if (url.startsWith('/cof/') || url.startsWith('/sandbox/')) return { authorization: w.b.cm.auth, 'x-correlation-id': 'iso-1' };
  if (url.startsWith('/banking/')) return { authorization: `Bearer ${w.ib.issuer.token}` };
  return {};
}

/** The body minus what differs on every request. */
function comparable(body: any): unknown {
  if (!body || typeof body !== 'object') return body;
  const { request_id: _r, requestId: _q, ...rest } = body;
  return rest;
}

for (const engine of ENGINES) {
  describe(`tenant isolation matrix on ${engine}`, () => {
    let t: Instance;
    let w: World;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;
    before(async () => {
      t = await startInstance(engine);
      receiver = await startReceiver();
      const a = await merchantTenant(t, 'A', receiver.url);
      const b = await merchantTenant(t, 'B', receiver.url);
      const ia = await issuerTenant(t, receiver.url.replace('/notifications', ''));
      const ib = await issuerTenant(t, receiver.url.replace('/notifications', ''));
      w = { a, b, ia, ib, t };
    });
    after(async () => {
      await receiver.close();
      assert.deepEqual(await closeAndScan(t), [], 'no PAN in logs or database');
    });

    it('every parameterised route of the app is in the matrix', () => {
      const parameterised = [...new Set(routeTable(t.app).filter((r) => paramNames(r.url).length > 0).map((r) => r.url))];
      assert.ok(parameterised.length >= 25, `found ${parameterised.length} parameterised routes`);
      const missing = parameterised.filter((url) => !(url in MATRIX));
      assert.deepEqual(missing, [], 'parameterised routes missing from the tenant-isolation matrix');
    });

    it("tenant B aiming every parameterised route at tenant A's ids gets 404, the same answer as for an id nobody has", async () => {
      const failures: string[] = [];
      let probes = 0;
      // DELETEs late (had one wrongly succeeded, the other probes would still see A's resources) and
      // PUT upserts last: they create B's own resource under A's id, which B may then read.
      const rank = (m: string) => (m === 'PUT' ? 2 : m === 'DELETE' ? 1 : 0);
      const routes = [...routeTable(t.app)].filter((r) => paramNames(r.url).length > 0).sort((x, y) => rank(x.method) - rank(y.method));
      for (const route of routes) {
        const entry = MATRIX[route.url];
        if (!entry || 'exempt' in entry) continue;
        for (const probe of await entry(w, route.method)) {
          probes++;
          const method = route.method as 'GET';
          const headers = asB(w, route.url);
          const res = await call(t, undefined, method, fillPattern(route.url, probe.params), { body: probe.body, headers });
          const expected = probe.expect ?? 404;
          const what = `${route.method} ${fillPattern(route.url, probe.params)}`;
          if (res.status !== expected) {
            failures.push(`${what} → ${res.status} ${res.text.slice(0, 200)} (expected ${expected})`);
            continue;
          }
          if (expected !== 404 || route.method === 'HEAD') continue;
          // Nothing in the answer tells A's id from one that does not exist.
          const own = new Set(Object.values(probe.params).filter((v) => v !== w.ib.issuer.issuerId && !Object.values(w.b).includes(v)));
          const unknown = Object.fromEntries(Object.entries(probe.params).map(([k, v]) => [k, own.has(v) ? lookalike(v) : v]));
          const baseline = await call(t, undefined, method, fillPattern(route.url, unknown), { body: probe.body, headers });
          if (baseline.status !== res.status || JSON.stringify(comparable(baseline.body)) !== JSON.stringify(comparable(res.body))) {
            failures.push(`${what} answers ${res.status} ${res.text} but an unknown id answers ${baseline.status} ${baseline.text}`);
          }
        }
      }
      assert.ok(probes >= 35, `${probes} probes`);
      assert.deepEqual(failures, []);
    });

    it("a token of another issuer on A's issuerId is 401, exactly as on an issuerId that does not exist", async () => {
      const issuerRoutes = routeTable(t.app).filter((r) => r.url.startsWith('/banking/v1/issuers/:issuerId') && r.method !== 'HEAD');
      assert.ok(issuerRoutes.length >= 10);
      for (const route of issuerRoutes) {
        const params = Object.fromEntries(paramNames(route.url).map((n) => [n, 'x1']));
        const mine = await call(t, `Bearer ${w.ib.issuer.token}`, route.method as 'GET', fillPattern(route.url, { ...params, issuerId: w.ia.issuer.issuerId }), { body: {} });
        const nobody = await call(t, `Bearer ${w.ib.issuer.token}`, route.method as 'GET', fillPattern(route.url, { ...params, issuerId: lookalike(w.ia.issuer.issuerId) }), { body: {} });
        assert.equal(mine.status, 401, `${route.method} ${route.url}: ${mine.text}`);
        assert.deepEqual(comparable(mine.body), comparable(nobody.body), route.url);
      }
    });

    it("lists never include the other tenant's items", async () => {
      const { a, b, ia, ib } = w;
      const aIds = [a.customerId, a.cardId, a.orderId, a.webhookId, a.deliveryId, a.networkTokenId, a.requestId, a.batchId, a.transactionId, a.cm.id];
      const lists = [
        await call(t, b.m.jwt, 'GET', '/api/orders?limit=100'),
        await call(t, b.m.jwt, 'GET', '/api/webhooks'),
        await call(t, b.m.jwt, 'GET', '/api/audit?limit=100'),
        await call(t, b.m.jwt, 'GET', `/api/customers/${b.customerId}/cards`),
        await call(t, b.m.jwt, 'GET', `/api/webhooks/${b.webhookId}/deliveries`),
        await cof(t, b.cm, 'GET', `/cof/v1/batches/${b.batchId}/results`),
      ];
      for (const res of lists) {
        assert.equal(res.status, 200, res.text);
        for (const id of aIds) assert.ok(!res.text.includes(id), `B's list shows A's ${id}: ${res.text.slice(0, 300)}`);
      }
      assert.ok((await call(t, b.m.jwt, 'GET', '/api/audit?limit=100')).body.data.length > 0, "B's own audit records are listed");
      const iLists = [await banking(t, ib.issuer, 'GET', `/cards/${ib.cardId}/tokens`), await banking(t, ib.issuer, 'GET', `/cards/${ib.cardId}/operations`)];
      for (const res of iLists) {
        assert.equal(res.status, 200, res.text);
        for (const id of [ia.cardId, ia.tokenId, ia.operationId, ia.consumerId]) assert.ok(!res.text.includes(id), res.text);
      }
    });

    it("ids carried in bodies are isolated too: B cannot tokenize, pay, transact or batch with A's ids", async () => {
      const { a, b } = w;
      const cases: [string, Promise<{ status: number; text: string }>][] = [
        ['saved card → token', call(t, b.m.jwt, 'POST', '/api/tokens', { body: { id: a.cardId } })],
        ["order paid with A's permanent token", call(t, b.m.jwt, 'POST', '/api/orders', { body: orderBody({ token: a.permanentToken }) })],
        ["order paid with A's temporary token", call(t, b.m.jwt, 'POST', '/api/orders', { body: orderBody({ token: a.temporaryToken }) })],
        ["order for A's customer", call(t, b.m.jwt, 'POST', '/api/orders', { body: orderBody({ customer_id: a.customerId }) })],
        ["network transaction on A's token", cof(t, b.cm, 'POST', '/cof/v1/transactions', { body: { tokenId: a.networkTokenId, transactionType: 'SINGLE' } })],
        ["network token as A's merchantId", cof(t, b.cm, 'POST', '/cof/v1/tokens', { body: { merchantId: a.cm.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'ON_FILE' } })],
        ["network token from A's vault token", cof(t, b.cm, 'POST', '/cof/v1/tokens', { body: { merchantId: b.cm.id, encryptedData: await encryptToTessera(t, { token: a.permanentToken }), source: 'TOKEN' } })],
        ['a sandbox authorization as A', cof(t, b.cm, 'POST', '/sandbox/v1/authorizations', { body: { merchantId: a.cm.id, tokenPan: '4895370012345678', tokenExpiryDate: '1230', cryptogram: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', amount: 1, currency: 'MXN' } })],
      ];
      const failures: string[] = [];
      for (const [what, pending] of cases) {
        const res = await pending;
        if (res.status !== 404) failures.push(`${what} → ${res.status} ${res.text.slice(0, 200)}`);
      }
      assert.deepEqual(failures, []);
    });

    it("batch ids are per merchant: B's chunk under A's batchId opens B's own batch and leaves A's alone", async () => {
      const { a, b } = w;
      const res = await cof(t, b.cm, 'POST', '/cof/v1/batches', { body: { merchantId: b.cm.id, batchId: a.batchId, last: true, encryptedData: await encryptToTessera(t, { records: [] }) } });
      assert.equal(res.status, 202, res.text);
      assert.equal(res.body.totalRecords, 0, "B sees its own, empty batch, not A's one record");
      assert.equal((await cof(t, a.cm, 'GET', `/cof/v1/batches/${a.batchId}`)).body.totalRecords, 1);
    });

    it("A's resources are intact after B's attempts", async () => {
      const { a, ia } = w;
      assert.equal((await call(t, a.m.jwt, 'GET', `/api/customers/${a.customerId}`)).status, 200);
      assert.equal((await call(t, a.m.jwt, 'GET', `/api/customers/${a.customerId}/cards`)).body.data.length, 1);
      assert.equal((await call(t, a.m.jwt, 'GET', `/api/tokens/${a.permanentToken}`)).status, 200);
      assert.equal((await call(t, a.m.jwt, 'GET', `/api/orders/${a.orderId}`)).body.status, 'paid');
      assert.equal((await call(t, a.m.jwt, 'GET', `/api/webhooks/${a.webhookId}/deliveries`)).status, 200);
      const nt = await cof(t, a.cm, 'GET', `/cof/v1/tokens/${a.networkTokenId}`);
      assert.equal(nt.body.tokenStatus, 'ACTIVE');
      const settings = await cof(t, a.cm, 'PATCH', `/cof/v1/merchants/${a.cm.id}`, { body: {} });
      assert.ok(!JSON.stringify(settings.body).includes('hijack'), settings.text);
      const card = await banking(t, ia.issuer, 'GET', `/cards/${ia.cardId}`);
      assert.equal(card.status, 200);
      assert.equal(card.body.consumerId, ia.consumerId);
      assert.equal(card.body.cardLastDigits, '4242', "B's PUT did not replace A's card");
      assert.equal((await banking(t, ia.issuer, 'GET', `/tokens/${ia.tokenId}`)).body.tokenStatus, 'ACTIVE');
    });
  });
}
