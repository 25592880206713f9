import assert from 'node:assert/strict';
import { rawCard } from './cards.ts';
import { call, eventually, type Instance, type MerchantCredentials } from './harness.ts';

/** One order line, with overrides. */
export function item(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'Coffee beans 1 kg', quantity: 2, price: 150.5, ...overrides };
}

/** An order body in MXN, with overrides. */
export function orderBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { currency: 'MXN', items: [item()], ...overrides };
}

/** A temporary token for a raw card (15 minutes, single use). */
export async function temporaryToken(t: Instance, m: MerchantCredentials, card: Record<string, unknown> = {}): Promise<string> {
  const res = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard(card) });
  assert.equal(res.status, 201, res.text);
  return res.body.token;
}

/** A permanent token whose validation hold is already released. */
export async function permanentToken(t: Instance, m: MerchantCredentials, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard({ tokenization: true, ...extra }) });
  assert.equal(res.status, 201, res.text);
  const token: string = res.body.token;
  await eventually(async () => {
    const meta = await call(t, m.jwt, 'GET', `/api/tokens/${token}`);
    return meta.body.validation?.status === 'released' ? true : undefined;
  }, 5000, 'the validation hold to be released');
  return token;
}

export function createOrder(t: Instance, m: MerchantCredentials, body: Record<string, unknown>, headers: Record<string, string> = {}) {
  return call(t, m.jwt, 'POST', '/api/orders', { body, headers });
}
