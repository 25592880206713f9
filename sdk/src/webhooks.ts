import { createHmac, timingSafeEqual } from 'node:crypto';
import { TesseraSignatureError } from './errors.ts';

/**
 * Verifying what Tessera POSTs to you. Two schemes, one per face:
 * - **Standard Webhooks** (`/cof/v1` and issuer notifications): `webhook-id`, `webhook-timestamp`
 *   (seconds), `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` keyed by the
 *   base64 bytes after `whsec_` of your secret.
 * - **Ecart Pay** (merchant webhooks and order `notify_url`s): `x-pay-webhook-id`, `x-pay-timestamp`
 *   (milliseconds), `x-pay-signature: SHA256=<hex HMAC-SHA256 of "timestamp.id.body">` keyed by the
 *   UTF-8 bytes of your webhook secret.
 * Both compare in constant time and refuse timestamps outside the tolerance (replays). Pass the raw
 * body exactly as received: re-serialized JSON does not verify.
 */
export type HeaderBag = Headers | Record<string, string | string[] | undefined>;

export interface VerifyOptions {
  /** How far the timestamp may be from now, either way. Default 300 s. */
  toleranceS?: number;
  /** The clock, in milliseconds. Default `Date.now`. */
  now?: () => number;
}

export interface Verified<T> {
  /** The message id (the same on every retry: de-duplicate on it). */
  id: string;
  timestamp: Date;
  payload: T;
}

function header(headers: HeaderBag, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  const v = headers[name] ?? headers[Object.keys(headers).find((k) => k.toLowerCase() === name) ?? ''];
  return Array.isArray(v) ? v[0] : v;
}

const text = (body: string | Uint8Array) => (typeof body === 'string' ? body : new TextDecoder().decode(body));

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkTime(ms: number, opts: VerifyOptions): void {
  const now = (opts.now ?? Date.now)();
  if (!Number.isFinite(ms) || Math.abs(now - ms) > (opts.toleranceS ?? 300) * 1000) throw new TesseraSignatureError('The timestamp is missing or outside the tolerance.');
}

function parse<T>(body: string): T {
  try {
    return JSON.parse(body) as T;
  } catch {
    throw new TesseraSignatureError('The body is not JSON.');
  }
}

function standardKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
}

/** Verifies a Standard Webhooks notification (`/cof/v1`, issuers) and returns its parsed body. */
export function verifyNotification<T = unknown>(secret: string, headers: HeaderBag, body: string | Uint8Array, opts: VerifyOptions = {}): Verified<T> {
  const id = header(headers, 'webhook-id');
  const ts = header(headers, 'webhook-timestamp');
  const signatures = header(headers, 'webhook-signature');
  if (!id || !ts || !signatures) throw new TesseraSignatureError('webhook-id, webhook-timestamp and webhook-signature are required.');
  if (!/^\d{1,12}$/.test(ts)) throw new TesseraSignatureError('webhook-timestamp must be seconds since the epoch.');
  checkTime(Number(ts) * 1000, opts);
  const raw = text(body);
  const expected = createHmac('sha256', standardKey(secret)).update(`${id}.${ts}.${raw}`).digest();
  // The header may list several signatures (key rotation): one match is enough.
  const ok = signatures.split(' ').some((s) => {
    const [version, value] = s.split(',', 2);
    return version === 'v1' && value !== undefined && equal(Buffer.from(value, 'base64'), expected);
  });
  if (!ok) throw new TesseraSignatureError('No webhook-signature matches.');
  return { id, timestamp: new Date(Number(ts) * 1000), payload: parse<T>(raw) };
}

/** Verifies an Ecart Pay-style merchant webhook (`x-pay-signature`) and returns `{event, data}`. */
export function verifyWebhook<T = { event: string; data: unknown }>(secret: string, headers: HeaderBag, body: string | Uint8Array, opts: VerifyOptions = {}): Verified<T> {
  const id = header(headers, 'x-pay-webhook-id');
  const ts = header(headers, 'x-pay-timestamp');
  const signature = header(headers, 'x-pay-signature');
  if (!id || !ts || !signature) throw new TesseraSignatureError('x-pay-webhook-id, x-pay-timestamp and x-pay-signature are required.');
  if (!/^\d{1,15}$/.test(ts)) throw new TesseraSignatureError('x-pay-timestamp must be milliseconds since the epoch.');
  checkTime(Number(ts), opts);
  const match = /^SHA256=([0-9a-f]{64})$/i.exec(signature.trim());
  const raw = text(body);
  const expected = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${ts}.${id}.${raw}`).digest();
  if (!match?.[1] || !equal(Buffer.from(match[1], 'hex'), expected)) throw new TesseraSignatureError('x-pay-signature does not match.');
  return { id, timestamp: new Date(Number(ts)), payload: parse<T>(raw) };
}
