import { assertNoPan } from './card.ts';
import { TesseraError } from './errors.ts';

/** An order's state. `created` until paid; refunds move it to `partially_refunded`, then `refunded`. */
export type OrderStatus = 'created' | 'paid' | 'refunded' | 'partially_refunded';

export const ORDER_STATUSES: readonly OrderStatus[] = ['created', 'paid', 'refunded', 'partially_refunded'];

/**
 * Currencies orders accept: ISO 4217 codes with two minor digits (the API's "at most two decimals"
 * is exact for them). Zero-decimal currencies (CLP, JPY…) are left out rather than rounded.
 */
export const CURRENCIES = new Set([
  'MXN', 'USD', 'EUR', 'GBP', 'CAD', 'COP', 'ARS', 'BRL', 'PEN', 'GTQ', 'CRC', 'DOP', 'UYU', 'BOB', 'HNL', 'NIO', 'PAB', 'AUD', 'CHF', 'SEK', 'NOK', 'DKK',
]);

/** Largest amount an order (or one line) may reach: 99,999,999.99 in minor units. */
export const MAX_AMOUNT = 9_999_999_999;
export const MAX_ITEMS = 100;
export const MAX_QUANTITY = 100_000;

/** One order line as stored: the price in minor units. */
export interface OrderLine {
  name: string;
  quantity: number;
  /** Minor units. */
  price: number;
}

export interface OrderTotals {
  /** Minor units. */
  subtotal: number;
  total: number;
}

export function validateCurrency(value: string, param = 'currency'): string {
  const code = value.toUpperCase();
  if (!CURRENCIES.has(code)) throw new TesseraError('invalid_currency', `${param} must be a supported ISO 4217 code (e.g. MXN, USD).`, param);
  return code;
}

/**
 * A decimal amount in major units (as the API speaks: `150.50`) → integer minor units. Refuses
 * negatives, non-numbers and more than two decimals; never rounds a third decimal away.
 */
export function toMinor(value: number, param: string, opts: { allowZero?: boolean } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TesseraError('invalid_amount', `${param} must be a non-negative amount.`, param);
  }
  const minor = Math.round(value * 100);
  // 150.5 * 100 is 15050.000000000002 in binary floating point: compare with a tolerance far below a cent.
  if (Math.abs(minor - value * 100) > 1e-6) throw new TesseraError('invalid_amount', `${param} must have at most two decimals.`, param);
  if (minor > MAX_AMOUNT) throw new TesseraError('invalid_amount', `${param} is over the largest amount allowed.`, param);
  if (minor === 0 && !opts.allowZero) throw new TesseraError('invalid_amount', `${param} must be greater than zero.`, param);
  return minor;
}

/** Minor units → the API's decimal major units (a JSON number: 15050 → 150.5). */
export function toMajorNumber(minor: number): number {
  return minor / 100;
}

/** Validates the lines of an order and computes its totals, all in integer minor units. */
export function priceItems(items: readonly { name: string; quantity: number; price: number }[]): { lines: OrderLine[]; totals: OrderTotals } {
  if (items.length === 0) throw new TesseraError('invalid_field', 'items must hold at least one item.', 'items');
  if (items.length > MAX_ITEMS) throw new TesseraError('invalid_field', `items must hold at most ${MAX_ITEMS} items.`, 'items');
  let subtotal = 0;
  const lines = items.map((item, i) => {
    const name = item.name.trim();
    if (name === '') throw new TesseraError('invalid_field', `items.${i}.name must not be empty.`, `items.${i}.name`);
    assertNoPan(name, `items.${i}.name`);
    if (!Number.isInteger(item.quantity) || item.quantity < 1 || item.quantity > MAX_QUANTITY) {
      throw new TesseraError('invalid_field', `items.${i}.quantity must be a whole number from 1 to ${MAX_QUANTITY}.`, `items.${i}.quantity`);
    }
    const price = toMinor(item.price, `items.${i}.price`, { allowZero: true });
    subtotal += price * item.quantity;
    if (subtotal > MAX_AMOUNT) throw new TesseraError('invalid_amount', 'The order total is over the largest amount allowed.', `items.${i}`);
    return { name, quantity: item.quantity, price };
  });
  if (subtotal === 0) throw new TesseraError('invalid_amount', 'The order total must be greater than zero.', 'items');
  return { lines, totals: { subtotal, total: subtotal } };
}

/** The status after refunding: all of what was captured → `refunded`, some → `partially_refunded`. */
export function statusAfterRefund(captured: number, refunded: number): OrderStatus {
  return refunded >= captured ? 'refunded' : 'partially_refunded';
}

/** Events a webhook can subscribe to. */
export const WEBHOOK_EVENTS = ['orders.create', 'orders.update', 'orders.confirmation', 'orders.refund', 'tokens.create', 'tokens.validation'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
