import { timingSafeEqual } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { TesseraError } from '../domain/errors.ts';
import type { Db } from '../storage/database.ts';
import { findMerchant, findMerchantByPrivateKeyHash, findMerchantByPublicKey } from '../storage/repos/merchants.ts';
import { sha256Hex } from '../vault/master-key.ts';

export interface AuthServiceDeps {
  db: Db;
  /** HS256 key for merchant authorization tokens (derived from the master key). */
  jwtKey: Uint8Array;
  now: () => number;
}

/** Lifetime of an authorization token. One hour. */
export const AUTH_TOKEN_TTL_S = 3600;
const ISSUER = 'tessera';
const AUDIENCE = 'tessera:merchant-api';
/** Verified tokens remembered, so the hot path skips re-verifying. Bounded. */
const VERIFIED_CACHE_MAX = 10_000;
/** How long a merchant found active stays trusted without reading it again. 1 s. */
const ACTIVE_TTL_MS = 1000;

export interface MerchantPrincipal {
  merchantId: string;
}

const UNAUTHORIZED = () => new TesseraError('unauthorized', 'Missing or invalid credentials.');

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createAuthService(deps: AuthServiceDeps) {
  const verified = new Map<string, { merchantId: string; expMs: number }>();

  /** A token outlives nothing: a merchant deleted (by any process) is refused on its next request. */
  // A merchant's status, trusted for a second: a deleted merchant's live JWT is refused within
  // ACTIVE_TTL_MS everywhere, without a database read on every request of the hot path.
  const activeUntil = new Map<string, number>();
  async function active(merchantId: string): Promise<MerchantPrincipal> {
    const now = Date.now();
    if ((activeUntil.get(merchantId) ?? 0) > now) return { merchantId };
    const merchant = await findMerchant(deps.db.kysely, merchantId);
    if (merchant?.status !== 'active') {
      activeUntil.delete(merchantId);
      throw UNAUTHORIZED();
    }
    if (activeUntil.size >= VERIFIED_CACHE_MAX) activeUntil.clear();
    activeUntil.set(merchantId, now + ACTIVE_TTL_MS);
    return { merchantId };
  }

  return {
    /** Exchanges a merchant's key pair (HTTP Basic) for an authorization token valid one hour. */
    async issueToken(publicKey: string, privateKey: string): Promise<{ token: string; expiresAt: number }> {
      const merchant = await findMerchantByPublicKey(deps.db.kysely, publicKey);
      // Hash even when the merchant is unknown, so both paths cost the same.
      const presented = sha256Hex(privateKey);
      if (!merchant || !equalHex(presented, merchant.private_key_hash) || merchant.status !== 'active') throw UNAUTHORIZED();
      const iat = Math.floor(deps.now() / 1000);
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(merchant.id)
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setIssuedAt(iat)
        .setExpirationTime(iat + AUTH_TOKEN_TTL_S)
        .sign(deps.jwtKey);
      return { token, expiresAt: (iat + AUTH_TOKEN_TTL_S) * 1000 };
    },

    /** Verifies an authorization token (HS256 only; `none` and other algorithms are refused). */
    async verifyToken(token: string): Promise<MerchantPrincipal> {
      const now = deps.now();
      const hit = verified.get(token);
      if (hit) {
        if (hit.expMs > now) return active(hit.merchantId);
        verified.delete(token);
        throw UNAUTHORIZED();
      }
      try {
        const { payload } = await jwtVerify(token, deps.jwtKey, {
          algorithms: ['HS256'],
          issuer: ISSUER,
          audience: AUDIENCE,
          currentDate: new Date(now),
          requiredClaims: ['sub', 'exp'],
        });
        const merchantId = payload.sub as string;
        if (verified.size >= VERIFIED_CACHE_MAX) verified.clear();
        verified.set(token, { merchantId, expMs: (payload.exp as number) * 1000 });
        return await active(merchantId);
      } catch (err) {
        if (err instanceof joseErrors.JOSEError) throw UNAUTHORIZED();
        throw err;
      }
    },

    /** Authenticates a merchant by its private key (`authorization: APIKEY <key>` on other faces). */
    async merchantByApiKey(privateKey: string): Promise<MerchantPrincipal> {
      const merchant = await findMerchantByPrivateKeyHash(deps.db.kysely, sha256Hex(privateKey));
      if (!merchant || merchant.status !== 'active') throw UNAUTHORIZED();
      return { merchantId: merchant.id };
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
