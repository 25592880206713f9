// `npm run bench:dashboard -- [--tokens N] [--engine sqlite|postgres]`: how fast the operator
// dashboard's busiest pages answer over a large vault. Seeds N token rows (metadata only, no card
// data: the dashboard never reads ciphertexts) and deliveries across 20 merchants, then times each
// page in-process (Fastify inject, so no network) and prints the median and p95 of 30 requests.
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { startInstance } from '../test/support/harness.ts';
import { createOperator, signIn } from '../test/support/dashboard.ts';
import type { Engine } from '../src/storage/database.ts';

const { values } = parseArgs({ options: { tokens: { type: 'string', default: '200000' }, engine: { type: 'string', default: 'sqlite' } } });
const total = Number(values.tokens);
const t = await startInstance(values.engine as Engine, { TESSERA_TEST_WORKER: 'off', LOG_LEVEL: 'warn' });
try {
  const merchants: string[] = [];
  for (let i = 0; i < 20; i++) merchants.push((await t.deps.services.merchants.create({ name: `Merchant ${i}` })).id);
  const k = t.deps.db.kysely;
  const now = Date.now();
  const seeded = performance.now();
  for (let from = 0; from < total; from += 1000) {
    const rows = Array.from({ length: Math.min(1000, total - from) }, (_, j) => {
      const i = from + j;
      return {
        token_hash: randomBytes(32).toString('hex'), merchant_id: merchants[i % 20]!, type: i % 3 ? 'temporary' : 'permanent', card_id: null, card_ct: null, cvc_ct: null,
        brand: ['visa', 'mastercard', 'amex'][i % 3]!, last4: String(1000 + (i % 9000)), exp_month: '12', exp_year: '2030', fingerprint: 'f', installments: null, fixed_installments: null,
        source: null, expires_at: i % 3 ? now - 1000 + i : null, validation_status: null, validation_reference: null, validation_amount: null, validation_currency: null,
        validation_error: null, validation_updated_at: null, used_at: null, created_at: now - total + i, deleted_at: i % 10 === 0 ? now : null,
      };
    });
    await k.insertInto('tokens').values(rows).execute();
    const deliveries = rows.slice(0, 100).map((r, j) => ({
      id: `msg_${randomBytes(16).toString('hex')}`, merchant_id: r.merchant_id, scheme: 'ecart-pay', event_type: 'orders.create', url: 'http://127.0.0.1:9/hook', headers: '{}', body: '{}',
      status: j % 7 === 0 ? 'dead' : 'delivered', attempts: 1, max_attempts: 15, next_attempt_at: null, last_status: 200, last_error: null, created_at: r.created_at, completed_at: r.created_at,
    }));
    await k.insertInto('deliveries').values(deliveries).execute();
  }
  process.stdout.write(`${values.engine}: seeded ${total} tokens and ${total / 10} deliveries in ${((performance.now() - seeded) / 1000).toFixed(1)} s\n`);
  const cookie = await signIn(t, await createOperator(t));
  const first = await t.app.inject({ method: 'GET', url: '/dashboard/tokens', headers: { cookie } });
  const cursor = /href="\/dashboard\/tokens\?kind=vault&amp;before=([^"]+)"/.exec(first.body)?.[1];
  const pages = [
    '/dashboard',
    '/dashboard/tokens',
    `/dashboard/tokens?merchant=${merchants[7]}`,
    `/dashboard/tokens?merchant=${merchants[7]}&state=active`,
    `/dashboard/tokens?before=${cursor}`,
    '/dashboard/deliveries?status=dead',
  ];
  for (const url of pages) {
    const ms: number[] = [];
    for (let i = 0; i < 30; i++) {
      const t0 = performance.now();
      const res = await t.app.inject({ method: 'GET', url, headers: { cookie } });
      ms.push(performance.now() - t0);
      if (res.statusCode !== 200) throw new Error(`${url}: ${res.statusCode}`);
    }
    ms.sort((a, b) => a - b);
    process.stdout.write(`  ${url.replace(/=[^&]{20,}/g, '=…').padEnd(52)} median ${ms[15]!.toFixed(1).padStart(7)} ms   p95 ${ms[28]!.toFixed(1).padStart(7)} ms\n`);
  }
} finally {
  await t.close();
}
