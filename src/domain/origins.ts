import { TesseraError } from './errors.ts';

/** How many origins a merchant may allow for its publishable key. */
export const MAX_ALLOWED_ORIGINS = 20;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * One browser origin a merchant allows: exactly `scheme://host[:port]` as browsers send it in
 * `Origin` — no path, query, fragment, credentials or wildcard, since `frame-ancestors` and the
 * server's check compare whole origins. `https:` only, except loopback hosts (`http://localhost:3000`)
 * for development: a card form on plain http elsewhere could be altered in transit.
 * Returns the normalized origin (lower-case host, default port dropped).
 */
export function normalizeOrigin(value: unknown, param: string): string {
  const bad = (why: string) => new TesseraError('invalid_origin', `${param} ${why}`, param);
  if (typeof value !== 'string' || value.length === 0 || value.length > 255) throw bad('must be an origin such as https://shop.example (at most 255 characters).');
  if (value.includes('*')) throw bad('must name one origin: wildcards are not allowed.');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad('must be an origin such as https://shop.example.');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad('must use https.');
  if (url.protocol === 'http:' && !LOOPBACK.has(url.hostname)) throw bad('must use https (http is allowed only for localhost, 127.0.0.1 and [::1]).');
  if (url.username || url.password) throw bad('must not hold credentials.');
  if (url.pathname !== '/' || /[?#]/.test(value) || url.origin === 'null') {
    throw bad('must be scheme://host[:port] only, without a path, query or fragment.');
  }
  return url.origin;
}

/** The whole `allowed_origins` list: each normalized, duplicates dropped, at most `MAX_ALLOWED_ORIGINS`. */
export function normalizeOrigins(value: unknown, param = 'allowed_origins'): string[] {
  if (!Array.isArray(value)) throw new TesseraError('invalid_field', `${param} must be an array of origins.`, param);
  if (value.length > MAX_ALLOWED_ORIGINS) throw new TesseraError('invalid_field', `${param} holds at most ${MAX_ALLOWED_ORIGINS} origins.`, param);
  return [...new Set(value.map((v, i) => normalizeOrigin(v, `${param}.${i}`)))];
}
