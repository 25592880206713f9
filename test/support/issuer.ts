import { randomUUID } from 'node:crypto';
import { CompactEncrypt, SignJWT, compactDecrypt, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { call, type Instance } from './harness.ts';

export const TOKEN_URL = 'http://127.0.0.1/authz/v1/oauth2/token';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** An issuer's ES256 signing key pair: the public half (with kid) is registered. */
export async function signingKeyPair(kid = `sig-${randomUUID().slice(0, 8)}`) {
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, use: 'sig', alg: 'ES256' } as JWK };
}

/** An issuer's ECDH-ES encryption key pair: receives transaction credentials. */
export async function encryptionKeyPair(kid = `enc-${randomUUID().slice(0, 8)}`) {
  const { publicKey, privateKey } = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  return {
    kid,
    jwk: { ...(await exportJWK(publicKey)), kid, use: 'enc', alg: 'ECDH-ES' } as JWK,
    async decrypt(jwe: string): Promise<Record<string, string>> {
      const { plaintext, protectedHeader } = await compactDecrypt(jwe, privateKey);
      if (protectedHeader.kid !== kid || protectedHeader.alg !== 'ECDH-ES') throw new Error('encrypted to the wrong key');
      return JSON.parse(new TextDecoder().decode(plaintext)) as Record<string, string>;
    },
  };
}

export interface TestIssuer {
  issuerId: string;
  webhookSecret: string;
  sig: Awaited<ReturnType<typeof signingKeyPair>>;
  enc: Awaited<ReturnType<typeof encryptionKeyPair>>;
  /** A live access token. */
  token: string;
}

/** Creates an issuer (signing + encryption keys) through the service and logs it in through the API. */
export async function createIssuer(t: Instance, opts: { notifyUrl?: string; recordsPerSecond?: number } = {}): Promise<TestIssuer> {
  const sig = await signingKeyPair();
  const enc = await encryptionKeyPair();
  const created = await t.deps.services.issuers.create({ name: 'Banco Uno', jwks: [sig.jwk, enc.jwk], notifyUrl: opts.notifyUrl, recordsPerSecond: opts.recordsPerSecond });
  const issuer = { issuerId: created.issuerId, webhookSecret: created.webhookSecret, sig, enc, token: '' };
  const res = await requestToken(t, await assertion(issuer));
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  issuer.token = res.body.access_token;
  return issuer;
}

/** An ES256 assertion: `iss` = issuerId, 5 minutes, a fresh jti; overrides for bad-input tests. */
export async function assertion(
  issuer: Pick<TestIssuer, 'issuerId' | 'sig'>,
  opts: { claims?: Record<string, unknown>; kid?: string; key?: CryptoKey; expiresInS?: number } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: randomUUID(), aud: TOKEN_URL, ...opts.claims })
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? issuer.sig.kid })
    .setIssuer(issuer.issuerId)
    .setIssuedAt(now)
    .setExpirationTime(now + (opts.expiresInS ?? 300))
    .sign(opts.key ?? issuer.sig.privateKey);
}

/** `POST /authz/v1/oauth2/token`, form-encoded. */
export async function requestToken(t: Instance, jwt: string | undefined, grantType: string | null = JWT_BEARER) {
  const form = new URLSearchParams();
  if (grantType !== null) form.set('grant_type', grantType);
  if (jwt !== undefined) form.set('assertion', jwt);
  return call(t, undefined, 'POST', '/authz/v1/oauth2/token', { raw: form.toString(), headers: { 'content-type': 'application/x-www-form-urlencoded' } });
}

/** One `/banking/v1/issuers/:issuerId…` call with the issuer's bearer token. */
export async function banking(
  t: Instance,
  issuer: Pick<TestIssuer, 'issuerId' | 'token'> | undefined,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  opts: { issuerId?: string; headers?: Record<string, string> } = {},
) {
  const id = opts.issuerId ?? issuer?.issuerId ?? 'AAAAAAAAAA';
  return call(t, issuer ? `Bearer ${issuer.token}` : undefined, method, `/banking/v1/issuers/${id}${path}`, { body, headers: opts.headers });
}

/** Encrypts a payload to Tessera's issuer-face key (ECDH-ES + A256GCM), as an issuer would. */
export async function encryptForTessera(t: Instance, payload: unknown, header: Record<string, unknown> = {}): Promise<string> {
  const keys = await call(t, undefined, 'GET', '/banking/v1/keys');
  const jwk = keys.body.keys[0] as JWK;
  const key = (await importJWK(jwk, 'ECDH-ES')) as CryptoKey;
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: jwk.kid!, ...header } as never)
    .encrypt(key);
}

/** A consumer's personal information, Click to Pay ready unless told otherwise. */
export function personal(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { firstName: 'Ada', lastName: 'Lovelace', email: 'ada@example.com', phone: { countryCode: '52', number: '5512345678' }, locale: 'es-MX', ...overrides };
}

/** PUTs a consumer and one card; returns the card id. */
export async function registerCard(t: Instance, issuer: TestIssuer, pan: string, opts: { consumerId?: string; cardId?: string; personal?: Record<string, unknown> } = {}) {
  const consumerId = opts.consumerId ?? `c-${randomUUID().slice(0, 8)}`;
  const cardId = opts.cardId ?? `card-${randomUUID().slice(0, 8)}`;
  const c = await banking(t, issuer, 'PUT', `/consumers/${consumerId}`, { personalInformation: opts.personal ?? personal() });
  if (c.status >= 300) throw new Error(`consumer: ${c.status} ${c.text}`);
  const r = await banking(t, issuer, 'PUT', `/cards/${cardId}`, { consumerId, encryptedData: await encryptForTessera(t, { pan, exp: '1230' }) });
  if (r.status >= 300) throw new Error(`card: ${r.status} ${r.text}`);
  return { consumerId, cardId };
}
