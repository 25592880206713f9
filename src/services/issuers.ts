import { randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify } from 'jose';
import { assertNoPan } from '../domain/card.ts';
import { TesseraError } from '../domain/errors.ts';
import { ISSUER_ID, issuerTenant, newIssuerId } from '../domain/issuer.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { findIssuer, findIssuerKey, insertIssuer, insertIssuerKey, listIssuerKeys, retireIssuerKey, useAssertionId } from '../storage/repos/issuers.ts';
import { validateIssuerJwk, type IssuerPublicJwk } from '../vault/issuer-jwe.ts';
import type { Vault } from '../vault/vault.ts';
import { validateNotificationUrl } from './merchants.ts';
import type { NotificationService } from './notifications.ts';

export interface IssuerServiceDeps {
  db: Db;
  vault: Vault;
  notifications: NotificationService;
  /** HS256 key of the access tokens (derived from the master key). */
  jwtKey: Uint8Array;
  now: () => number;
  /** Batch records per second per issuer unless set at creation. `TESSERA_BATCH_RECORDS_PER_S`, default 5000. */
  defaultRecordsPerSecond: number;
}

/** What issuer creation shows once: the webhook secret is not retrievable later. */
export interface CreatedIssuer {
  issuerId: string;
  name: string;
  webhookSecret: string;
  notifyUrl: string | null;
  keys: { kid: string; use: 'sig' | 'enc' }[];
  recordsPerSecond: number;
}

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Lifetime of an access token, and the longest an assertion may live. 15 minutes. */
export const ACCESS_TOKEN_TTL_S = 900;
export const TOKEN_PATH = '/authz/v1/oauth2/token';
const ISS = 'tessera';
const AUD = 'tessera:banking-api';
const VERIFIED_CACHE_MAX = 10_000;

export const issuerSecretAad = (issuerId: string) => `issuer:${issuerId}:webhook_secret`;

const grant = (message: string) => new TesseraError('invalid_grant', message, 'assertion');
const client = (message: string) => new TesseraError('invalid_client', message, 'assertion');

/** `aud`, when present, must name Tessera's token endpoint (any host: Tessera may sit behind a proxy). */
function audienceOk(aud: unknown): boolean {
  const values = Array.isArray(aud) ? aud : [aud];
  return values.some((v) => {
    if (typeof v !== 'string') return false;
    try {
      const u = new URL(v);
      return (u.protocol === 'https:' || u.protocol === 'http:') && u.pathname === TOKEN_PATH;
    } catch {
      return false;
    }
  });
}

export function createIssuerService(deps: IssuerServiceDeps) {
  const k = deps.db.kysely;
  const verified = new Map<string, { issuerId: string; expMs: number }>();

  async function addKey(trx: Executor, issuerId: string, jwk: IssuerPublicJwk, now: number): Promise<void> {
    const added = await insertIssuerKey(trx, { issuer_id: issuerId, kid: jwk.kid, use: jwk.use, public_jwk: JSON.stringify(jwk), status: 'active', created_at: now });
    if (!added) throw new TesseraError('invalid_jwks', `The key ${jwk.kid} is already registered.`, 'jwk');
  }

  return {
    /** Registers an issuer with its public keys (at least one ES256 signing key) and its own data keys. */
    async create(input: { name: string; jwks: unknown[]; notifyUrl?: string | undefined; recordsPerSecond?: number | undefined }): Promise<CreatedIssuer> {
      assertNoPan(input.name, 'name');
      const keys: IssuerPublicJwk[] = [];
      for (const [i, raw] of input.jwks.entries()) keys.push(await validateIssuerJwk(raw, `jwk[${i}]`));
      if (!keys.some((key) => key.use === 'sig')) throw new TesseraError('invalid_jwks', 'Register at least one ES256 signing key (use "sig").', 'jwk');
      if (new Set(keys.map((key) => key.kid)).size !== keys.length) throw new TesseraError('invalid_jwks', 'Each key needs its own kid.', 'jwk');
      const notifyUrl = input.notifyUrl === undefined ? null : validateNotificationUrl(input.notifyUrl, 'notify-url').replace(/\/+$/, '');
      const recordsPerSecond = input.recordsPerSecond ?? deps.defaultRecordsPerSecond;
      const now = deps.now();
      const issuerId = newIssuerId();
      const webhookSecret = 'whsec_' + randomBytes(24).toString('base64');
      await k.transaction().execute(async (trx) => {
        await deps.vault.createTenantKeys(trx, issuerTenant(issuerId), now);
        await insertIssuer(trx, {
          id: issuerId,
          name: input.name,
          webhook_secret_ct: await deps.vault.encrypt(issuerTenant(issuerId), webhookSecret, issuerSecretAad(issuerId), trx),
          notify_url: notifyUrl,
          status: 'active',
          records_per_second: recordsPerSecond,
          created_at: now,
        });
        for (const key of keys) await addKey(trx, issuerId, key, now);
      });
      return { issuerId, name: input.name, webhookSecret, notifyUrl, keys: keys.map((key) => ({ kid: key.kid, use: key.use })), recordsPerSecond };
    },

    /** Adds a key for rotation (the old ones keep working until retired). */
    async addKey(issuerId: string, raw: unknown): Promise<{ kid: string; use: 'sig' | 'enc' }> {
      if (!(await findIssuer(k, issuerId))) throw new TesseraError('not_found', 'No such issuer.', 'issuerId');
      const jwk = await validateIssuerJwk(raw);
      await addKey(k, issuerId, jwk, deps.now());
      return { kid: jwk.kid, use: jwk.use };
    },

    async retireKey(issuerId: string, kid: string): Promise<boolean> {
      return retireIssuerKey(k, issuerId, kid);
    },

    /** The issuer's newest `enc` key, to which transaction credentials are encrypted. */
    async encryptionKey(issuerId: string): Promise<IssuerPublicJwk | undefined> {
      const [row] = await listIssuerKeys(k, issuerId, 'enc');
      return row ? (JSON.parse(row.public_jwk) as IssuerPublicJwk) : undefined;
    },

    /** An active `sig` key by kid (batch-file signatures). */
    async signingJwk(issuerId: string, kid: string): Promise<IssuerPublicJwk | undefined> {
      const row = await findIssuerKey(k, issuerId, kid);
      return row && row.use === 'sig' ? (JSON.parse(row.public_jwk) as IssuerPublicJwk) : undefined;
    },

    /**
     * OAuth 2.0 JWT-bearer (RFC 7523): checks the issuer's ES256 assertion and answers an access token
     * for `/banking/v1/issuers/:issuerId` (15 minutes).
     */
    async token(grantType: string | undefined, assertion: string | undefined): Promise<{ access_token: string; expires_in: number; token_type: 'Bearer' }> {
      if (!grantType) throw new TesseraError('invalid_request', 'grant_type is required.', 'grant_type');
      if (grantType !== JWT_BEARER) throw new TesseraError('unsupported_grant_type', `grant_type must be ${JWT_BEARER}.`, 'grant_type');
      if (!assertion) throw new TesseraError('invalid_request', 'assertion is required.', 'assertion');
      let header: ReturnType<typeof decodeProtectedHeader>;
      let claims: ReturnType<typeof decodeJwt>;
      try {
        header = decodeProtectedHeader(assertion);
        claims = decodeJwt(assertion);
      } catch {
        throw grant('The assertion is not a signed JWT.');
      }
      if (header.alg !== 'ES256') throw grant('The assertion must be signed with ES256.');
      if (typeof header.kid !== 'string' || header.kid === '') throw grant('The assertion header must name its key (kid).');
      const iss = claims.iss;
      if (typeof iss !== 'string' || !ISSUER_ID.test(iss)) throw client('iss must be your issuerId.');
      const issuer = await findIssuer(k, iss);
      if (!issuer || issuer.status !== 'active') throw client('Unknown issuer.');
      const row = await findIssuerKey(k, iss, header.kid);
      if (!row || row.use !== 'sig') throw client('The assertion is signed with a key this issuer did not register.');
      const now = deps.now();
      try {
        await jwtVerify(assertion, await importJWK(JSON.parse(row.public_jwk) as IssuerPublicJwk, 'ES256'), {
          algorithms: ['ES256'],
          issuer: iss,
          currentDate: new Date(now),
          requiredClaims: ['exp'],
        });
      } catch (err) {
        if (err instanceof joseErrors.JWTExpired) throw grant('The assertion has expired.');
        if (err instanceof joseErrors.JOSEError) throw grant('The assertion does not verify (signature or claims).');
        throw err;
      }
      const expMs = Number(claims.exp) * 1000;
      if (expMs - now > ACCESS_TOKEN_TTL_S * 1000) throw grant('The assertion must expire at most 15 minutes after now (exp).');
      if (claims.sub !== undefined && claims.sub !== iss) throw grant('sub, when present, must be your issuerId.');
      if (claims.aud !== undefined && !audienceOk(claims.aud)) throw grant(`aud, when present, must be Tessera's token URL (…${TOKEN_PATH}).`);
      if (claims.jti !== undefined) {
        if (typeof claims.jti !== 'string' || claims.jti.length === 0 || claims.jti.length > 256) throw grant('jti must be a string of 1–256 characters.');
        if (!(await useAssertionId(k, iss, claims.jti, expMs, now))) throw grant('The assertion was already used (jti).');
      }
      const iat = Math.floor(now / 1000);
      const accessToken = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(iss)
        .setIssuer(ISS)
        .setAudience(AUD)
        .setIssuedAt(iat)
        .setExpirationTime(iat + ACCESS_TOKEN_TTL_S)
        .sign(deps.jwtKey);
      return { access_token: accessToken, expires_in: ACCESS_TOKEN_TTL_S, token_type: 'Bearer' };
    },

    /** The issuer an access token was granted to; `unauthorized` otherwise. */
    async verifyAccessToken(token: string): Promise<string> {
      const now = deps.now();
      const hit = verified.get(token);
      if (hit && hit.expMs > now) return hit.issuerId;
      const unauthorized = new TesseraError('unauthorized', 'Missing or invalid access token: send authorization: Bearer <access_token> from POST /authz/v1/oauth2/token.');
      if (hit) {
        verified.delete(token);
        throw unauthorized;
      }
      try {
        const { payload } = await jwtVerify(token, deps.jwtKey, { algorithms: ['HS256'], issuer: ISS, audience: AUD, currentDate: new Date(now), requiredClaims: ['sub', 'exp'] });
        if (verified.size >= VERIFIED_CACHE_MAX) verified.clear();
        verified.set(token, { issuerId: payload.sub as string, expMs: (payload.exp as number) * 1000 });
        return payload.sub as string;
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) throw unauthorized;
        throw err;
      }
    },

    /**
     * Writes a D1 notification in the caller's transaction: `POST {notifyUrl}/notifications/d1/v2/issuers/:issuerId/<resource>`,
     * signed (Standard Webhooks) with the issuer's secret and retried like every notification. False when the issuer has no URL.
     */
    async notify(trx: Executor, issuerId: string, resource: 'cards' | 'tokens', eventType: string, body: unknown): Promise<boolean> {
      const issuer = await findIssuer(trx, issuerId);
      if (!issuer?.notify_url) return false;
      const url = `${issuer.notify_url}/notifications/d1/v2/issuers/${issuerId}/${resource}`;
      await deps.notifications.enqueue(trx, { merchantId: issuerTenant(issuerId), url, eventType, body });
      return true;
    },

    /** The notification signing secret of an issuer tenant (`issuer:<id>`); undefined for other tenants. */
    async secretOf(tenantId: string): Promise<string | undefined> {
      if (!tenantId.startsWith('issuer:')) return undefined;
      const issuerId = tenantId.slice('issuer:'.length);
      const issuer = await findIssuer(k, issuerId);
      return issuer ? deps.vault.decrypt(tenantId, issuer.webhook_secret_ct, issuerSecretAad(issuerId)) : undefined;
    },

    nudge: deps.notifications.nudge,
  };
}

export type IssuerService = ReturnType<typeof createIssuerService>;
