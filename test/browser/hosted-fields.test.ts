import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { CARDS, TEST_PANS } from '../support/cards.ts';
import { launchBrowser, listen, type TestBrowser } from '../support/browser.ts';
import { call, closeAndScan, createMerchant, ENGINES, startInstance, type Instance, type MerchantCredentials } from '../support/harness.ts';
import { forgedFramePage, merchantPageHtml, serveMerchantPage, type MerchantPage } from '../support/merchant-page.ts';
import { createOrder, orderBody } from '../support/orders.ts';

/** `TESSERA_SCREENSHOTS=1` also writes the README's screenshots (docs/screenshots/); `npm test` never does. */
const SCREENSHOTS = process.env.TESSERA_SCREENSHOTS === '1' ? new URL('../../docs/screenshots/', import.meta.url).pathname : undefined;

/** Everything the merchant's (parent) page could see: its console, its own requests, its DOM, the messages it got. */
interface ParentLog {
  console: string[];
  requests: string[];
}

function watchParent(page: Page): ParentLog {
  const log: ParentLog = { console: [], requests: [] };
  page.on('console', (m) => log.console.push(m.text()));
  page.on('pageerror', (e) => log.console.push(String(e)));
  page.on('request', (r) => {
    // The parent's own network log: requests its document made (the frame's go to Tessera, from Tessera's origin).
    if (r.frame() === page.mainFrame()) log.requests.push(`${r.method()} ${r.url()} ${r.postData() ?? ''} ${JSON.stringify(r.headers())}`);
  });
  return log;
}

async function parentSaw(page: Page, log: ParentLog): Promise<string> {
  const dom = await page.mainFrame().content();
  const messages = await page.evaluate(() => JSON.stringify((globalThis as any).__messages));
  const storage = await page.evaluate(() => {
    const g = globalThis as any;
    return JSON.stringify({ ...g.localStorage }) + JSON.stringify({ ...g.sessionStorage }) + g.document.cookie;
  });
  return [dom, messages, storage, ...log.console, ...log.requests].join('\n');
}

type Outcome = { ok: boolean; result?: { token: string; brand: string; last4: string }; error?: { code: string; message: string; param: string | null } };

/** Calls the merchant page's `tokenize(options)` (card.tokenize() and what it resolved or rejected with). */
function tokenize(page: Page, options: Record<string, unknown>): Promise<Outcome> {
  return page.evaluate((o) => (globalThis as any).tokenize(o), options);
}

/** Types a card into the frame as a person would, key by key. */
async function typeCard(page: Page, card: { number: string; exp: string; cvc: string; name: string }) {
  const frame = page.frameLocator('#card iframe');
  await frame.locator('#number').pressSequentially(card.number);
  await frame.locator('#expiry').pressSequentially(card.exp);
  await frame.locator('#cvc').pressSequentially(card.cvc);
  await frame.locator('#name').fill(card.name);
}

for (const engine of ENGINES) {
  describe(`hosted card fields in Chromium on ${engine}`, () => {
    let t: Instance;
    let browser: TestBrowser;
    let tessera: string;
    let m: MerchantCredentials;
    let shop: MerchantPage;
    let locale = 'en';

    before(async () => {
      t = await startInstance(engine);
      tessera = await listen(t);
      browser = await launchBrowser();
      m = await createMerchant(t, 'Café Tessera');
      shop = await serveMerchantPage((path) =>
        path.startsWith('/forged') ? forgedFramePage(tessera, m.publishableKey!, shop.origin) : merchantPageHtml(tessera, m.publishableKey!, path.includes('es') ? 'es' : locale),
      );
      const res = await call(t, m.jwt, 'PATCH', '/api/merchant/settings', { body: { allowed_origins: [shop.origin] } });
      assert.equal(res.status, 200, res.text);
      if (SCREENSHOTS) mkdirSync(SCREENSHOTS, { recursive: true });
    });
    after(async () => {
      await browser?.close();
      await shop?.close();
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('tokenizes a card typed into the frame on another origin; the parent page only ever sees the token, brand and last four', async () => {
      const page = await browser.browser.newPage();
      const log = watchParent(page);
      const frameRequests: string[] = [];
      page.on('request', (r) => {
        if (r.frame() !== page.mainFrame()) frameRequests.push(`${r.method()} ${new URL(r.url()).origin}${new URL(r.url()).pathname}`);
      });
      await page.goto(`${shop.origin}/checkout`);
      await page.waitForFunction(() => (globalThis as any).__ready);
      const frame = page.frameLocator('#card iframe');
      await frame.locator('#number').pressSequentially(CARDS.visa);
      assert.equal(await frame.locator('#number').inputValue(), '4242 4242 4242 4242', 'groups of four');
      assert.equal(await frame.locator('#brand').textContent(), 'VISA', 'live brand detection');
      await frame.locator('#expiry').pressSequentially('1234');
      assert.equal(await frame.locator('#expiry').inputValue(), '12 / 34');
      await frame.locator('#cvc').pressSequentially('123');
      await frame.locator('#name').fill('Ada Lovelace');

      // The frame is Tessera's document: the merchant's scripts cannot reach into it.
      const reach = await page.evaluate(() => {
        try {
          return String((globalThis as any).document.querySelector('#card iframe').contentWindow.document.body.innerHTML.length);
        } catch (e) {
          return (e as Error).name;
        }
      });
      assert.equal(reach, 'SecurityError');

      const out = await tokenize(page, {});
      assert.equal(out.ok, true, JSON.stringify(out));
      const { token, brand, last4 } = out.result!;
      assert.match(token, /^ca_[0-9a-f]{17}$/);
      assert.deepEqual([brand, last4], ['visa', '4242']);
      assert.deepEqual(Object.keys(out.result!).sort(), ['brand', 'last4', 'token'], 'nothing else reaches the parent');
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}card-fields-token.png`, fullPage: true });

      const seen = await parentSaw(page, log);
      assert.deepEqual(TEST_PANS.filter((p) => seen.includes(p)), [], 'no PAN in the parent DOM, console, messages or network log');
      assert.doesNotMatch(seen, /4242 4242|12 \/ 34|"cvc"/, 'nor the formatted number, the expiry or the CVC');
      assert.ok(log.requests.every((r) => !r.includes('/elements/v1/tokens')), 'the parent never calls Tessera with card data');
      assert.ok(frameRequests.includes(`POST ${tessera}/elements/v1/tokens`), `the frame posted the card to Tessera only: ${frameRequests.join(', ')}`);

      const meta = await call(t, m.jwt, 'GET', `/api/tokens/${token}`);
      assert.equal(meta.status, 200, meta.text);
      assert.deepEqual([meta.body.type, meta.body.brand, meta.body.last4, meta.body.exp_month, meta.body.exp_year], ['temporary', 'visa', '4242', '12', '2034']);
      await page.close();
    });

    it('formats Amex as 4-6-5 with a four-digit CVC, and shows accessible errors in Spanish before anything is sent', async () => {
      const page = await browser.browser.newPage();
      const log = watchParent(page);
      await page.goto(`${shop.origin}/checkout-es`);
      await page.waitForFunction(() => (globalThis as any).__ready);
      const frame = page.frameLocator('#card iframe');
      await frame.locator('#number').pressSequentially(CARDS.amex);
      assert.equal(await frame.locator('#number').inputValue(), '3782 822463 10005');
      assert.equal(await frame.locator('#brand').textContent(), 'AMEX');
      await frame.locator('#cvc').pressSequentially('12345');
      assert.equal(await frame.locator('#cvc').inputValue(), '1234', 'Amex CVC has four digits');
      await frame.locator('#number').fill('');
      await frame.locator('#number').pressSequentially('4242424242424241');
      await frame.locator('#expiry').pressSequentially('0120');

      const before = await countTokens(t);
      const out = await tokenize(page, {});
      assert.equal(out.ok, false);
      assert.deepEqual([out.error!.code, out.error!.param], ['invalid_number', 'number']);
      assert.equal(await frame.locator('#number').getAttribute('aria-invalid'), 'true');
      assert.equal(await frame.locator('#number-error').textContent(), 'El número de tarjeta no es válido.');
      assert.equal(await frame.locator('#expiry').getAttribute('aria-invalid'), 'true');
      assert.equal(await frame.locator('#expiry-error').textContent(), 'Tu tarjeta está vencida.');
      assert.equal(await frame.locator('#cvc').getAttribute('aria-invalid'), 'true', 'a Visa number needs a three-digit CVC');
      assert.equal(await frame.locator('#name-error').textContent(), 'Escribe el nombre que aparece en la tarjeta.');
      // The label names the input and the error describes it, for screen readers.
      assert.equal(await frame.getByLabel('Número de tarjeta').getAttribute('aria-describedby'), 'number-error');
      assert.equal(await countTokens(t), before, 'nothing was sent');
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}card-fields-es-errors.png`, fullPage: true });
      assert.deepEqual(TEST_PANS.filter((p) => p !== '4242424242424241').filter((p) => (log.console.join('') + log.requests.join('')).includes(p)), []);
      await page.close();
    });

    it('shows English errors and a decline from the network, then tokenizes a permanent card with installments', async () => {
      const page = await browser.browser.newPage();
      await page.goto(`${shop.origin}/checkout`);
      await page.waitForFunction(() => (globalThis as any).__ready);
      const frame = page.frameLocator('#card iframe');
      await frame.locator('#number').pressSequentially('4242');
      await frame.locator('#expiry').pressSequentially('13');
      await frame.locator('#expiry').blur();
      await frame.locator('#cvc').focus();
      const invalid = await tokenize(page, {});
      assert.equal(invalid.ok, false);
      assert.equal(await frame.locator('#number-error').textContent(), 'Your card number is not valid.');
      assert.equal(await frame.locator('#expiry-error').textContent(), 'Enter the expiry date as MM / YY.');
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}card-fields-en-errors.png`, fullPage: true });

      await frame.locator('#number').fill('');
      await frame.locator('#expiry').fill('');
      await typeCard(page, { number: CARDS.insufficientFunds, exp: '1234', cvc: '123', name: 'Ada Lovelace' });
      const declined = await tokenize(page, { tokenization: true });
      assert.deepEqual(declined, { ok: false, error: { code: 'insufficient_funds', message: 'Your card has insufficient funds.', param: null } });
      assert.equal(await frame.locator('#form-error').textContent(), 'Your card has insufficient funds.');

      await frame.locator('#number').fill('');
      await frame.locator('#number').pressSequentially(CARDS.mastercard);
      const ok = await tokenize(page, { tokenization: true, installments: 3 });
      assert.equal(ok.ok, true, JSON.stringify(ok));
      assert.match(ok.result!.token, /^[0-9a-f]{24}$/);
      const meta = (await call(t, m.jwt, 'GET', `/api/tokens/${ok.result!.token}`)).body;
      assert.deepEqual([meta.type, meta.brand, meta.installments, meta.source], ['permanent', 'mastercard', 3, 'hosted_fields']);
      await page.close();
    });

    it('refuses a page on an origin the merchant did not allow: tokenize() rejects with origin_not_allowed and no token is made', async () => {
      const other = shop.origin.replace('localhost', '127.0.0.1');
      const page = await browser.browser.newPage();
      await page.goto(`${other}/checkout`);
      const before = await countTokens(t);
      const out = await tokenize(page, {});
      assert.equal(out.ok, false);
      assert.equal(out.error!.code, 'origin_not_allowed');
      assert.equal(await page.evaluate(() => (globalThis as any).__mountError), 'origin_not_allowed');
      assert.equal(await page.frameLocator('#card iframe').locator('#number').count(), 0, 'the refused frame has no card inputs');
      assert.equal(await countTokens(t), before);
      await page.close();
    });

    it("lets the browser itself refuse the frame inside a page that lies about its origin (CSP frame-ancestors)", async () => {
      const liar = shop.origin.replace('localhost', '127.0.0.1');
      const page = await browser.browser.newPage();
      const consoleLines: string[] = [];
      page.on('console', (msg) => consoleLines.push(msg.text()));
      await page.goto(`${liar}/forged`);
      // Chromium reports the blocked framing on the embedding page's console.
      const deadline = Date.now() + 5000;
      while (!consoleLines.some((l) => l.includes('frame-ancestors')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(consoleLines.some((l) => l.includes('frame-ancestors') && l.includes(shop.origin)), consoleLines.join('\n'));
      assert.equal(await page.frameLocator('#forged').locator('#number').count(), 0, 'no card inputs rendered');
      assert.deepEqual(await page.evaluate(() => (globalThis as any).__messages), [], 'the frame never ran: no message reached the page');
      await page.close();
    });

    it('pays an order on the hosted payment page with a chosen plan and lands on redirect_url', async () => {
      const o = (await createOrder(t, m, orderBody({ redirect_url: `${shop.origin}/thanks`, installment_options: { installments: [3, 6, 12] }, items: [
        { name: 'Coffee beans 1 kg', quantity: 2, price: 150.5 },
        { name: 'Ceramic mug', quantity: 1, price: 99.99 },
      ] }))).body;
      const page = await browser.browser.newPage({ viewport: { width: 1000, height: 720 } });
      await page.goto(`${tessera}/pay/${o.id}?lang=es`);
      await page.locator('#pay-button:not([disabled])').waitFor();
      await page.locator('#plan').selectOption('6');
      await typeCard(page, { number: CARDS.visa, exp: '1234', cvc: '123', name: 'Ada Lovelace' });
      if (SCREENSHOTS) await page.screenshot({ path: `${SCREENSHOTS}pay-page.png`, fullPage: true });
      await page.locator('#pay-button').click();
      await page.waitForURL(`${shop.origin}/thanks`, { timeout: 10_000 });
      const read = (await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body;
      assert.deepEqual([read.status, read.installments, read.payment.last4, read.totals.captured], ['paid', 6, '4242', 400.99]);

      await page.goto(`${tessera}/pay/${o.id}?lang=en`);
      assert.match(await page.locator('#result').textContent() ?? '', /Payment received/);
      if (SCREENSHOTS) {
        const phone = await browser.browser.newPage({ viewport: { width: 390, height: 760 } });
        const o2 = (await createOrder(t, m, orderBody())).body;
        await phone.goto(`${tessera}/pay/${o2.id}?lang=en`);
        await phone.locator('#pay-button:not([disabled])').waitFor();
        await phone.screenshot({ path: `${SCREENSHOTS}pay-page-mobile.png`, fullPage: true });
        await phone.close();
      }
      await page.close();
    });

    it('shows a decline on the payment page and keeps the order payable; without redirect_url it shows the result', async () => {
      const o = (await createOrder(t, m, orderBody())).body;
      const page = await browser.browser.newPage();
      await page.goto(`${tessera}/pay/${o.id}?lang=en`);
      await page.locator('#pay-button:not([disabled])').waitFor();
      const frame = page.frameLocator('#card iframe');
      await typeCard(page, { number: CARDS.declined, exp: '1234', cvc: '123', name: 'Ada Lovelace' });
      await page.locator('#pay-button').click();
      await frame.locator('#form-error', { hasText: 'Your card was declined.' }).waitFor();
      assert.equal((await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body.status, 'created');
      await frame.locator('#number').fill('');
      await frame.locator('#number').pressSequentially(CARDS.visa);
      await page.locator('#pay-button:not([disabled])').click();
      await page.locator('#result', { hasText: 'Payment received' }).waitFor();
      assert.equal((await call(t, m.jwt, 'GET', `/api/orders/${o.id}`)).body.status, 'paid');
      await page.close();
    });
  });
}

async function countTokens(t: Instance): Promise<number> {
  return Number((await t.deps.db.kysely.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
}
