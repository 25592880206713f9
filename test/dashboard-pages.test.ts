import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { CARDS, TEST_PANS } from './support/cards.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, startReceiver } from './support/cof.ts';
import { createOrder, orderBody, temporaryToken } from './support/orders.ts';
import { BINS, cardOf, sendChunk } from './support/batches.ts';
import { createOperator, csrfOf, ORIGIN, page, postForm, signIn } from './support/dashboard.ts';
import { escapeHtml, html } from '../src/http/dashboard/html.ts';

const XSS = '<script>alert(1)</script>';

describe('the html template', () => {
  it('escapes every interpolated value unless it is markup of its own', () => {
    assert.equal(html`<p title="${'" onmouseover="x'}">${XSS}</p>`.value, '<p title="&quot; onmouseover=&quot;x">&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    assert.equal(html`<ul>${['<a>', 'b&c'].map((x) => html`<li>${x}</li>`)}</ul>`.value, '<ul><li>&lt;a&gt;</li><li>b&amp;c</li></ul>');
    assert.equal(html`${null}${undefined}${false}${0}`.value, '0');
    assert.equal(escapeHtml("'`"), '&#39;&#96;');
  });
});

for (const engine of ENGINES) {
  describe(`operator dashboard pages on ${engine}`, () => {
    let t: Instance;
    let cookie: string;
    let evil: MerchantCredentials;
    let acme: MerchantCredentials;

    before(async () => {
      t = await startInstance(engine, { TESSERA_SANDBOX_ISSUER_TPS: '2' });
      cookie = await signIn(t, await createOperator(t));
      evil = await createMerchant(t, XSS);
      acme = await createMerchant(t, 'Acme Coffee');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('renders a merchant named <script>alert(1)</script> escaped on every page that names it', async () => {
      await temporaryToken(t, evil);
      assert.equal((await createOrder(t, evil, orderBody({ token: await temporaryToken(t, evil) }))).status, 201);
      for (const url of ['/dashboard/merchants', '/dashboard/tokens', '/dashboard/orders', '/dashboard/deliveries']) {
        const res = await page(t, cookie, url);
        assert.equal(res.statusCode, 200, url);
        assert.ok(!res.body.includes(XSS), `${url}: the name is not raw HTML`);
        assert.ok(res.body.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `${url}: the name is shown escaped`);
        assert.equal((res.body.match(/<script/g) ?? []).length, 1, `${url}: only the dashboard's own script tag`);
      }
    });

    it('lists tokens masked (brand and last four only), filtered by merchant and state, and deletes one', async () => {
      const token = await temporaryToken(t, acme, { number: CARDS.mastercard });
      const all = await page(t, cookie, '/dashboard/tokens');
      const mine = await page(t, cookie, `/dashboard/tokens?merchant=${acme.id}`);
      for (const res of [all, mine]) {
        for (const pan of TEST_PANS) assert.ok(!res.body.includes(pan), 'no PAN on the page');
        assert.ok(!res.body.includes(token), 'the bearer token is never shown');
      }
      const rows = (body: string) => [...body.matchAll(/<tr data-merchant="([^"]+)">/g)].map((m) => m[1]);
      assert.deepEqual(rows(mine.body), [acme.id]);
      assert.ok(rows(all.body).includes(evil.id) && rows(all.body).includes(acme.id), 'every tenant without a filter');
      assert.match(mine.body, /<span class="brandname">mastercard<\/span> •••• 4444/);
      assert.deepEqual(rows((await page(t, cookie, `/dashboard/tokens?merchant=${acme.id}&state=deleted`)).body), []);

      const hash = /name="token" value="([0-9a-f]{64})"/.exec(mine.body)![1]!;
      const res = await postForm(t, cookie, '/dashboard/tokens/vault/delete', { _csrf: csrfOf(mine.body), merchant: acme.id, token: hash }, { origin: ORIGIN, referer: `${ORIGIN}/dashboard/tokens?merchant=${acme.id}` });
      assert.equal(res.statusCode, 303, res.body);
      assert.equal(res.headers.location, `/dashboard/tokens?merchant=${acme.id}&done=deleted`);
      assert.equal((await call(t, acme.jwt, 'GET', `/api/tokens/${token}`)).status, 404, 'the merchant sees it gone');
      assert.deepEqual(rows((await page(t, cookie, `/dashboard/tokens?merchant=${acme.id}&state=deleted`)).body), [acme.id]);
      const again = await postForm(t, cookie, '/dashboard/tokens/vault/delete', { _csrf: csrfOf(mine.body), merchant: evil.id, token: hash });
      assert.equal(again.statusCode, 404, "another tenant's token id finds nothing");
    });

    it('suspends and resumes a network token through the TSP, and the merchant is told', async () => {
      const receiver = await startReceiver();
      try {
        const psp = await createCofMerchant(t, { name: 'PSP', notificationUrl: receiver.url });
        const created = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'ON_FILE' } });
        assert.equal(created.status, 201, created.text);
        const list = await page(t, cookie, `/dashboard/tokens?kind=network&merchant=${psp.id}`);
        assert.match(list.body, /<span class="brandname">visa<\/span> •••• 4242/);
        const suspend = await postForm(t, cookie, '/dashboard/tokens/network/suspend', { _csrf: csrfOf(list.body), merchant: psp.id, token: created.body.tokenId });
        assert.equal(suspend.statusCode, 303, suspend.body);
        assert.equal((await cof(t, psp, 'GET', `/cof/v1/tokens/${created.body.tokenId}`)).body.tokenStatus, 'SUSPENDED');
        assert.match((await page(t, cookie, `/dashboard/tokens?kind=network&state=SUSPENDED`)).body, new RegExp(`value="${created.body.tokenId}"`));
        await eventually(async () => (receiver.received.some((r) => r.body.includes('SUSPENDED')) ? true : undefined), 5000, 'the suspension notification');
        const resume = await postForm(t, cookie, '/dashboard/tokens/network/resume', { _csrf: csrfOf(list.body), merchant: psp.id, token: created.body.tokenId });
        assert.equal(resume.statusCode, 303);
        assert.equal((await cof(t, psp, 'GET', `/cof/v1/tokens/${created.body.tokenId}`)).body.tokenStatus, 'ACTIVE');
      } finally {
        await receiver.close();
      }
    });

    it('retries a dead notification that has no webhook behind it (an order notify_url)', async () => {
      const gone = await startReceiver([404]);
      try {
        const order = await createOrder(t, acme, orderBody({ token: await temporaryToken(t, acme), notify_url: gone.url }));
        assert.equal(order.status, 201, order.text);
        const dead = await eventually(async () => {
          const res = await page(t, cookie, `/dashboard/deliveries?tenant=${acme.id}&status=dead`);
          return /id="delivery-(msg_[0-9a-f]+)"/.exec(res.body)?.[1] ? res : undefined;
        }, 5000, 'a dead delivery');
        const id = /id="delivery-(msg_[0-9a-f]+)"/.exec(dead.body)![1]!;
        assert.match(dead.body, /<span class="code">404<\/span>/);
        const res = await postForm(t, cookie, '/dashboard/deliveries/retry', { _csrf: csrfOf(dead.body), delivery: id });
        assert.equal(res.statusCode, 303);
        await eventually(async () => (gone.received.length === 2 ? true : undefined), 5000, 'the second attempt');
        const after = await eventually(async () => {
          const p = await page(t, cookie, `/dashboard/deliveries?tenant=${acme.id}&status=delivered`);
          return p.body.includes(`id="delivery-${id}"`) ? p : undefined;
        }, 5000, 'the delivery delivered');
        assert.match(after.body, /<span class="code">200<\/span>/);
      } finally {
        await gone.close();
      }
    });

    it('charts sandbox issuer requests and throttles per second as inline SVG', async () => {
      const psp = await createCofMerchant(t, { name: 'Charts' });
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard, { accountId: `a${i}` })), source: 'ON_FILE' } });
        statuses.push(res.status);
      }
      assert.ok(statuses.includes(429), `the cap of 2/s throttles some: ${statuses}`);
      const res = await page(t, cookie, '/dashboard/sandbox');
      assert.equal(res.statusCode, 200);
      assert.match(res.body, /<svg viewBox="0 0 720 200" role="img" aria-label="Issuer 555555: \d+ accepted and [1-9]\d* throttled requests/);
      assert.match(res.body, /<rect class="throttled"/);
      assert.match(res.body, /cap 2\/s/);
      assert.match(res.body, /<td><code>555555<\/code><\/td><td class="num">6<\/td>/);
    });

    it('shows batch progress on the page and as JSON for the live refresh', async () => {
      const psp = await createCofMerchant(t, { name: 'Bulk' });
      const records = [0, 1, 2].map((i) => ({ rowId: `r${i}`, fpan: cardOf(BINS[i]!, i), exp: '1234', accountId: `acct-${i}` }));
      const chunk = await sendChunk(t, psp, 'nightly-1', records, true);
      assert.ok([200, 201, 202].includes(chunk.status), chunk.text);
      const done = await eventually(async () => {
        const res = await page(t, cookie, '/dashboard/batches.json');
        const b = res.json().batches.find((x: { key: string }) => x.key.startsWith('cof:'));
        return b?.status === 'COMPLETED' ? b : undefined;
      }, 10_000, 'the batch to complete');
      assert.deepEqual([done.done, done.total], [3, 3]);
      const html = (await page(t, cookie, '/dashboard/batches')).body;
      assert.match(html, /nightly-1/);
      assert.match(html, /<progress max="3" value="3">/);
    });
  });
}
