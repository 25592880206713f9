/**
 * Regenerates docs/screenshots/dashboard-*.png: a Tessera instance on a throw-away SQLite store,
 * seeded with realistic traffic through the public APIs (merchants, tokens, orders, webhooks that
 * fail, network tokens, a bulk batch and an issuer batch file still running, Click to Pay, sandbox
 * issuers pushed over their rate cap), photographed in Chromium. `npm run screenshots:dashboard`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { call, createMerchant, eventually, startInstance, type Instance, type MerchantCredentials } from '../test/support/harness.ts';
import { CARDS } from '../test/support/cards.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, startReceiver } from '../test/support/cof.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from '../test/support/orders.ts';
import { BINS, cardOf, sendChunk } from '../test/support/batches.ts';
import { assertion, banking, encryptionKeyPair, personal, registerCard, requestToken, signingKeyPair, type TestIssuer } from '../test/support/issuer.ts';
import { batchRecord, signedBatch } from '../test/support/batch.ts';
import { createOperator } from '../test/support/dashboard.ts';
import { launchBrowser, listen } from '../test/support/browser.ts';

const OUT = join(import.meta.dirname, '..', 'docs', 'screenshots');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function issuer(t: Instance, name: string, notifyUrl: string, recordsPerSecond: number): Promise<TestIssuer> {
  const sig = await signingKeyPair();
  const enc = await encryptionKeyPair();
  const created = await t.deps.services.issuers.create({ name, jwks: [sig.jwk, enc.jwk], notifyUrl, recordsPerSecond });
  const i: TestIssuer = { issuerId: created.issuerId, webhookSecret: created.webhookSecret, sig, enc, token: '' };
  i.token = (await requestToken(t, await assertion(i))).body.access_token;
  return i;
}

async function shop(t: Instance, name: string, cards: string[], orders: number, hooks: { url: string }[]): Promise<MerchantCredentials> {
  const m = await createMerchant(t, name);
  for (const h of hooks) await call(t, m.jwt, 'POST', '/api/webhooks', { body: { url: h.url, events: ['orders.create', 'orders.confirmation', 'tokens.create'] } });
  for (const [i, number] of cards.entries()) {
    if (i % 3 === 0) await permanentToken(t, m, { number, cvc: number.startsWith('3') ? '4321' : '123', installments: 3 });
    else await temporaryToken(t, m, { number, cvc: number.startsWith('3') ? '4321' : '123' });
  }
  for (let i = 0; i < orders; i++) {
    const number = cards[i % cards.length]!;
    const o = await createOrder(t, m, orderBody({ token: await temporaryToken(t, m, { number, cvc: number.startsWith('3') ? '4321' : '123' }), items: [{ name: 'Café de Chiapas 1 kg', quantity: 1 + (i % 3), price: 289 + i * 17 }] }));
    if (o.status === 201 && i % 4 === 1) await call(t, m.jwt, 'POST', `/api/orders/${o.body.id}/refunds`, { body: { amount: 100 } });
  }
  return m;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const t = await startInstance('sqlite', { TESSERA_SANDBOX_ISSUER_TPS: '20', TESSERA_RETRY_MAX_ATTEMPTS: '3', TESSERA_RETRY_BASE_MS: '50', LOG_LEVEL: 'warn' });
  const good = await startReceiver();
  const broken = await startReceiver(Array(40).fill(500));
  const gone = await startReceiver(Array(10).fill(404));
  const browser = await launchBrowser();
  try {
    const origin = await listen(t);
    const op = await createOperator(t, 'ops@tessera.example', 'a long operator passphrase');

    await shop(t, 'Café Altura', [CARDS.visa, CARDS.mastercard, CARDS.amex, CARDS.discover, CARDS.mastercardRef], 6, [good]);
    await shop(t, 'Librería del Sol', [CARDS.mastercard, CARDS.visa, CARDS.discover], 4, [broken]);
    await shop(t, 'Moda Norte', [CARDS.amex, CARDS.visa], 3, [gone, good]);
    const declined = await createMerchant(t, 'Viajes Pacífico');
    await createOrder(t, declined, orderBody({ token: await temporaryToken(t, declined, { number: CARDS.declined }) }));
    await createOrder(t, declined, orderBody({ token: await temporaryToken(t, declined, { number: CARDS.insufficientFunds }) }));

    const context = await browser.browser.newContext({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    await page.goto(`${origin}/dashboard/login`);
    await page.screenshot({ path: join(OUT, 'dashboard-login.png') });
    await page.getByLabel('Email').fill(op.email);
    await page.getByLabel('Password').fill(op.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    const shoot = async (name: string, path: string, fullPage = true) => {
      await page.goto(origin + path);
      await page.screenshot({ path: join(OUT, `dashboard-${name}.png`), fullPage });
      process.stdout.write(`docs/screenshots/dashboard-${name}.png\n`);
    };
    // Before the PSP's per-token notifications fill the list: merchant webhooks, some failing.
    await eventually(async () => ((await t.deps.services.dashboard.deliveries({ status: 'pending' })).rows.length === 0 ? true : undefined), 30_000, 'webhook retries to settle');
    await shoot('deliveries', '/dashboard/deliveries', false);
    await shoot('orders', '/dashboard/orders', false);

    // A PSP on /cof/v1: network tokens (one suspended), a finished nightly batch and one running.
    const psp = await createCofMerchant(t, { name: 'Pagos Unidos (PSP)', notificationUrl: good.url });
    for (const [i, pan] of [CARDS.visa, CARDS.mastercard, CARDS.amex, CARDS.discover].entries()) {
      const res = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(pan, { accountId: `cust-${i}`, email: 'ana@example.com' })), source: 'ON_FILE' } });
      if (i === 1 && res.status === 201) await cof(t, psp, 'POST', `/cof/v1/tokens/${res.body.tokenId}/suspend`);
    }
    const rec = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ rowId: `${prefix}${i}`, fpan: cardOf(BINS[i % BINS.length]!, i), exp: '1230', accountId: `acct-${prefix}${i}` }));
    await sendChunk(t, psp, 'nightly-2026-11-22', rec(300, 'a'), true);
    await eventually(async () => ((await cof(t, psp, 'GET', '/cof/v1/batches/nightly-2026-11-22')).body?.status === 'COMPLETED' ? true : undefined), 60_000, 'the first batch');
    // Issuers: Click to Pay enrolments and batch files (one done, one processing at 10 records/s).
    const banco = await issuer(t, 'Banco Meridiano', good.url, 10);
    const caja = await issuer(t, 'Caja Popular del Valle', good.url, 500);
    for (const [i, pan] of [CARDS.visa, CARDS.mastercard, CARDS.amex, CARDS.lost, CARDS.discover, CARDS.mastercardRef].entries()) {
      const who = i % 2 ? caja : banco;
      const { cardId } = await registerCard(t, who, pan, { personal: personal({ email: `cliente${i}@example.com` }) });
      await banking(t, who, 'POST', `/cards/${cardId}/operations:clickToPayEnrolment`, { reason: 'customer asked', reasonCode: 'CUSTOMER_REQUEST' });
    }
    const small = [];
    for (let i = 0; i < 40; i++) small.push(await batchRecord(t, `r${i}`, `caja-${i}`, [{ cardId: `caja-${i}-1`, pan: i % 2 ? CARDS.visa : CARDS.mastercard }]));
    const files: { status: number; text: string }[] = [];
    files.push(await banking(t, caja, 'POST', '/batch-files', await signedBatch(caja, { batchId: 'CPV_20261122', seqNumber: 1, issuerId: caja.issuerId, clickToPayAutoEnrolment: true }, small)));
    const big = [];
    for (let i = 0; i < 1200; i++) big.push(await batchRecord(t, `r${i}`, `bm-${i}`, [{ cardId: `bm-${i}-1`, pan: i % 3 ? CARDS.visa : CARDS.mastercard }]));
    files.push(await banking(t, banco, 'POST', '/batch-files', await signedBatch(banco, { batchId: 'BM_20261123', seqNumber: 1, issuerId: banco.issuerId }, big)));
    for (const f of files) if (f.status !== 202) throw new Error(`batch file: ${f.status} ${f.text}`);
    // Chunks hold at most 10,000 records.
    const backfill = rec(16_000, 'b');
    for (const [i, from] of [0, 8000].entries()) {
      const res = await sendChunk(t, psp, 'backfill-2026-11', backfill.slice(from, from + 8000), i === 1);
      if (res.status >= 300) throw new Error(`backfill chunk: ${res.status} ${res.text}`);
    }
    await sleep(8000);

    // While the batches run.
    await shoot('batches', '/dashboard/batches');
    await shoot('overview', '/dashboard');
    await shoot('tokens', '/dashboard/tokens', false);
    await shoot('network-tokens', '/dashboard/tokens?kind=network', false);
    await shoot('click-to-pay', '/dashboard/click-to-pay');

    // Interactive bursts over the sandbox issuers' cap (20/s), one second at a time: the chart.
    for (let s = 0; s < 30; s++) {
      const second = Date.now();
      const mc = Math.max(4, Math.round(16 + 10 * Math.sin(s / 3)) + (s >= 14 && s <= 18 ? 14 : 0));
      const pans = [...Array(mc).fill(CARDS.mastercard), ...Array(Math.round(mc / 2)).fill(CARDS.visa)] as string[];
      const bodies = await Promise.all(pans.map(async (pan, i) => ({ merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(pan, { accountId: `wave-${s}-${i}` })), source: 'ON_FILE' })));
      await Promise.all(bodies.map((body) => cof(t, psp, 'POST', '/cof/v1/tokens', { body })));
      await sleep(Math.max(0, 1000 - (Date.now() - second)));
    }
    await shoot('sandbox', '/dashboard/sandbox');
    await context.close();
  } finally {
    await browser.close();
    await good.close();
    await broken.close();
    await gone.close();
    await t.close();
  }
}

await main();
