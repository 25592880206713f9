import { CompactEncrypt, importJWK, type CryptoKey, type JWK } from 'jose';
import { TesseraError } from '../domain/errors.ts';

/** An issuer's public key as registered: EC P-256, `sig` (ES256) or `enc` (ECDH-ES). */
export interface IssuerPublicJwk extends JWK {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'sig' | 'enc';
  alg: 'ES256' | 'ECDH-ES';
}

/**
 * Checks one issuer JWK: a public EC P-256 key with a `kid`. `use` "enc" (alg ECDH-ES) marks a key
 * that transaction credentials are encrypted to; anything else is an ES256 signing key (OAuth
 * assertions, batch-file signatures). A private part (`d`) is refused: Tessera must never hold it.
 */
export async function validateIssuerJwk(value: unknown, param = 'jwk'): Promise<IssuerPublicJwk> {
  const bad = (m: string) => new TesseraError('invalid_jwks', `${param} ${m}`, param);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('must be a JWK object.');
  const k = value as Record<string, unknown>;
  if ('d' in k) throw bad('holds a private key part: register only the public key.');
  if (k.kty !== 'EC' || k.crv !== 'P-256') throw bad('must be an EC key on curve P-256.');
  if (typeof k.kid !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(k.kid)) throw bad('needs a kid of 1–128 printable characters.');
  if (typeof k.x !== 'string' || typeof k.y !== 'string') throw bad('needs x and y.');
  const use = k.use === 'enc' ? 'enc' : 'sig';
  if (k.use !== undefined && k.use !== 'sig' && k.use !== 'enc') throw bad('use must be "sig" or "enc".');
  const alg = use === 'enc' ? 'ECDH-ES' : 'ES256';
  if (k.alg !== undefined && k.alg !== alg) throw bad(`alg must be "${alg}" for use "${use}".`);
  const jwk: IssuerPublicJwk = { kty: 'EC', crv: 'P-256', x: k.x, y: k.y, kid: k.kid, use, alg };
  try {
    await importJWK(jwk, alg);
  } catch {
    throw bad('is not a valid P-256 public key.');
  }
  return jwk;
}

/**
 * Encrypts payloads to an issuer's registered `enc` key: compact JWE, `ECDH-ES` + `A256GCM`, `kid`
 * in the header. Imported keys are cached by kid and coordinates.
 */
export class IssuerEncrypter {
  readonly #cache = new Map<string, CryptoKey>();

  async encrypt(jwk: IssuerPublicJwk, payload: unknown): Promise<string> {
    const cacheKey = `${jwk.kid}.${jwk.x}.${jwk.y}`;
    let key = this.#cache.get(cacheKey);
    if (!key) {
      key = (await importJWK(jwk, 'ECDH-ES')) as CryptoKey;
      if (this.#cache.size > 1000) this.#cache.clear();
      this.#cache.set(cacheKey, key);
    }
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: jwk.kid, cty: 'application/json' })
      .encrypt(key);
  }
}
