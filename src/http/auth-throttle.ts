import type { FastifyInstance, FastifyRequest } from 'fastify';
import rateLimit from '@fastify/rate-limit';
import { decodeJwt } from 'jose';
import { TesseraError } from '../domain/errors.ts';

/** Settings of `installAuthThrottle` (from `Config`). */
export interface AuthThrottleOptions {
  /** Failed attempts per client IP and presented identity per window. Default (config) 10. */
  max: number;
  /** The window, ms. Default (config) 15 minutes. */
  windowMs: number;
}

/** Ten times the per-identity budget for one IP across identities (spraying many public keys or issuers). */
const PER_IP_FACTOR = 10;

/**
 * Where credentials are presented, and who the attempt claims to be: the public key of a key
 * pair, the `iss` of an OAuth assertion (read, not trusted), or nothing for an API key (the key is
 * the secret). Undefined: not a credential exchange.
 */
function presented(request: FastifyRequest): string | undefined {
  const path = request.url.split('?')[0] ?? '';
  const auth = request.headers.authorization;
  if (request.method === 'POST' && path === '/api/authorizations/token') {
    if (typeof auth !== 'string') return 'pk:';
    const decoded = Buffer.from(auth.replace(/^Basic\s+/i, '').slice(0, 700), 'base64').toString('utf8');
    return 'pk:' + decoded.slice(0, Math.max(0, decoded.indexOf(':'))).slice(0, 128);
  }
  if (path.startsWith('/cof/v1/') && typeof auth === 'string' && /^APIKEY\s/i.test(auth)) return 'apikey';
  if (request.method === 'POST' && path === '/authz/v1/oauth2/token') return 'iss:';
  return undefined;
}

/** The issuer an OAuth assertion claims (the body is parsed by then). */
function claimedIssuer(request: FastifyRequest): string {
  const assertion = (request.body as { assertion?: unknown } | undefined)?.assertion;
  if (typeof assertion !== 'string' || assertion.length > 8192) return '';
  try {
    const iss = decodeJwt(assertion).iss;
    return typeof iss === 'string' ? iss.slice(0, 64) : '';
  } catch {
    return '';
  }
}

/**
 * Brute-force protection for credential exchanges (`@fastify/rate-limit`, in-memory store: per
 * process). Only failures count (401, and the OAuth endpoint's 400/401): a client that keeps
 * failing for one identity, or for many from one IP, is answered 429 with `retry-after` in its
 * face's envelope until the window passes; successful logins are never limited.
 */
export async function installAuthThrottle(app: FastifyInstance, opts: AuthThrottleOptions): Promise<void> {
  await app.register(rateLimit, { global: false });
  const byIdentity = app.createRateLimit({
    max: opts.max,
    timeWindow: opts.windowMs,
    keyGenerator: (r) => `${r.ip}|${identityOf(r)}`,
  });
  const byIp = app.createRateLimit({ max: opts.max * PER_IP_FACTOR, timeWindow: opts.windowMs, keyGenerator: (r) => `${r.ip}|any` });
  const identityOf = (r: FastifyRequest) => {
    const who = presented(r) ?? '';
    return who === 'iss:' ? who + claimedIssuer(r) : who;
  };

  async function refuseIfExceeded(request: FastifyRequest): Promise<void> {
    for (const limiter of [byIdentity, byIp]) {
      const status = await limiter(request, { increment: false });
      // A read does not count this attempt: with `max` failures spent, the next one is refused.
      if (!status.isAllowed && status.remaining <= 0) {
        throw new TesseraError('rate_limited', 'Too many failed attempts: retry later.', undefined, Math.max(1, status.ttlInSeconds));
      }
    }
  }
  // Before any credential is checked (API keys are checked in `onRequest` hooks registered after
  // this one); the OAuth assertion names its issuer in the body, so that check waits for it.
  app.addHook('onRequest', async (request) => {
    const who = presented(request);
    if (who !== undefined && who !== 'iss:') await refuseIfExceeded(request);
  });
  app.addHook('preValidation', async (request) => {
    if (presented(request) === 'iss:') await refuseIfExceeded(request);
  });
  app.addHook('onSend', async (request, reply) => {
    const failed = reply.statusCode === 401 || (reply.statusCode === 400 && request.url.startsWith('/authz/v1/oauth2/token'));
    if (!failed || presented(request) === undefined) return;
    await byIdentity(request);
    await byIp(request);
  });
}
