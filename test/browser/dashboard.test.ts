import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from '../support/harness.ts';
import { CARDS, findPans } from '../support/cards.ts';
import { startReceiver } from '../support/cof.ts';
import { createOrder, orderBody, temporaryToken } from '../support/orders.ts';
import { createOperator, type Operator } from '../support/dashboard.ts';
import { launchBrowser, listen, type TestBrowser } from '../support/browser.ts';
import { createCofMerchant } from '../support/cof.ts';
import { BINS, cardOf, sendChunk } from '../support/batches.ts';

for (const engine of ENGINES) {
  describe(`operator dashboard in Chromium on ${engine}`, () => {
    let t: Instance;
    let origin: string;
    let browser: TestBrowser;
    let op: Operator;
    let shop: MerchantCredentials;
    let other: MerchantCredentials;
    let receiver: Awaited<ReturnType<typeof startReceiver>>;

    before(async () => {
      // One attempt per delivery: the receiver's first 500 leaves the delivery dead until an operator retries it.
      // Batches paced at 4 records/s per issuer, so one runs long enough to watch.
      t = await startInstance(engine, { TESSERA_RETRY_MAX_ATTEMPTS: '1', TESSERA_BATCH_ISSUER_TPS: '4', TESSERA_BATCH_SHARE_PCT: '100' });
      origin = await listen(t);
      browser = await launchBrowser();
      op = await createOperator(t, 'operator@example.com');
      shop = await createMerchant(t, 'Tienda Azul');
      other = await createMerchant(t, 'Otra Tienda');
      receiver = await startReceiver([500]);
    });
    after(async () => {
      await browser?.close();
      await receiver?.close();
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('an operator signs in, finds a token by merchant and retries a failed webhook delivery', async () => {
      // Through the merchant API: a token of each merchant, a webhook, and an order whose event fails.
      await temporaryToken(t, shop, { number: CARDS.amex, cvc: '4321' });
      await temporaryToken(t, other, { number: CARDS.mastercard });
      const hook = await call(t, shop.jwt, 'POST', '/api/webhooks', { body: { url: receiver.url, events: ['orders.create'] } });
      assert.equal(hook.status, 201, hook.text);
      assert.equal((await createOrder(t, shop, orderBody())).status, 201);
      await eventually(async () => (receiver.received.length === 1 ? true : undefined), 5000, 'the first (failing) attempt');
      const deliveryId = String(receiver.received[0]!.headers['x-pay-webhook-id']);

      const context = await browser.browser.newContext();
      const page = await context.newPage();
      const console: string[] = [];
      page.on('console', (m) => console.push(m.text()));
      const requested: string[] = [];
      page.on('request', (r) => requested.push(r.url()));

      await page.goto(`${origin}/dashboard/tokens`);
      assert.equal(new URL(page.url()).pathname, '/dashboard/login', 'sent to sign in first');
      await page.getByLabel('Email').fill(op.email);
      await page.getByLabel('Password').fill('wrong password entirely');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      assert.equal(await page.getByRole('alert').textContent(), 'Wrong email or password.');
      await page.getByLabel('Password').fill(op.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();

      const [cookie] = await context.cookies();
      assert.deepEqual([cookie?.name, cookie?.path, cookie?.httpOnly, cookie?.sameSite], ['tessera_operator', '/dashboard', true, 'Strict']);

      // Tokens, filtered by merchant.
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Tokens' }).click();
      await page.getByRole('heading', { name: 'Tokens' }).waitFor();
      assert.equal(await page.locator('#tokens tbody tr').count(), 2, 'both merchants before filtering');
      await page.getByLabel('Merchant').selectOption({ label: 'Tienda Azul' });
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL((u) => u.searchParams.get('merchant') === shop.id);
      const rows = page.locator('#tokens tbody tr');
      assert.equal(await rows.count(), 1);
      assert.match((await rows.first().textContent()) ?? '', /amex\s*•••• 0005/);
      assert.match((await rows.first().textContent()) ?? '', /Tienda Azul/);

      // Deliveries: the dead one, its failed attempt, and Retry.
      await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: 'Deliveries' }).click();
      const row = page.locator(`#delivery-${deliveryId}`);
      await row.waitFor();
      assert.equal(await row.getAttribute('data-status'), 'dead');
      assert.match((await row.locator('ol.attempts').textContent()) ?? '', /500\s+dead/);
      await row.getByRole('button', { name: 'Retry' }).click();
      await page.getByRole('status').waitFor();
      assert.match((await page.getByRole('status').textContent()) ?? '', /Delivery queued/);

      await eventually(async () => (receiver.received.length === 2 ? true : undefined), 5000, 'the retried delivery to arrive');
      assert.equal(receiver.received[1]!.headers['x-pay-webhook-id'], deliveryId, 'the same delivery, sent again');
      assert.equal(receiver.received[1]!.json.event, 'orders.create');
      // The page shows the new attempt once it is recorded.
      await eventually(async () => {
        await page.reload();
        return (await row.getAttribute('data-status')) === 'delivered' ? true : undefined;
      }, 5000, 'the page to show the delivery delivered');
      const attempts = await row.locator('ol.attempts li').allTextContents();
      assert.equal(attempts.length, 2);
      assert.match(attempts[1]!, /^200\s+delivered/);

      // Nothing left Tessera's origin, nothing broke the CSP, and no card number reached the page.
      assert.ok(requested.every((u) => u.startsWith(origin)), `only same-origin requests: ${requested.filter((u) => !u.startsWith(origin))}`);
      assert.deepEqual(console.filter((m) => /Content Security Policy|Refused/.test(m)), []);
      assert.deepEqual(findPans((await page.content()) + console.join('\n')), []);

      // Sign out: the session is gone, the dashboard asks to sign in again.
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${origin}/dashboard/login`);
      await page.goto(`${origin}/dashboard/deliveries`);
      assert.equal(new URL(page.url()).pathname, '/dashboard/login');
      await context.close();
    });

    it("a running batch's progress moves on the page without a reload (the self-hosted script under the CSP)", async () => {
      const psp = await createCofMerchant(t, { name: 'Bulk PSP' });
      const records = Array.from({ length: 24 }, (_, i) => ({ rowId: `r${i}`, fpan: cardOf(BINS[0]!, i), exp: '1230', accountId: `a${i}` }));
      const chunk = await sendChunk(t, psp, 'live-1', records, true);
      assert.ok(chunk.status < 300, chunk.text);

      const context = await browser.browser.newContext();
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
      await page.goto(`${origin}/dashboard/login`);
      await page.getByLabel('Email').fill(op.email);
      await page.getByLabel('Password').fill(op.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      await page.goto(`${origin}/dashboard/batches`);
      let navigations = 0;
      page.on('framenavigated', () => navigations++);
      const bar = page.locator('[data-progress^="cof:"] progress');
      const first = Number(await bar.getAttribute('value'));
      assert.ok(first < 24, `still running when the page loads (${first}/24)`);
      await page.locator('[data-progress^="cof:"][data-status="COMPLETED"]').waitFor({ timeout: 15_000 });
      assert.equal(await bar.evaluate((el) => (el as unknown as { value: number }).value), 24);
      assert.equal(await page.locator('[data-status-of^="cof:"] .badge').textContent(), 'COMPLETED');
      assert.equal(navigations, 0, 'updated in place, not reloaded');
      assert.deepEqual(errors, []);
      await context.close();
    });
  });
}
