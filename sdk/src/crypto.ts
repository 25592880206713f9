import { CompactEncrypt, CompactSign, compactDecrypt, importJWK, type CryptoKey, type JWK, type KeyObject } from 'jose';

/**
 * The JOSE pieces the faces need, on `jose`: card data encrypted to Tessera's published keys
 * (`RSA-OAEP-256` on `/cof/v1`, `ECDH-ES` on `/banking/v1`, both `A256GCM`, `kid` in the header),
 * credentials decrypted with your own key, and the detached JWS of issuer batch files.
 */
export type Key = CryptoKey | KeyObject | Uint8Array;

const encoder = new TextEncoder();

/** A compact JWE of `payload` (as JSON) to a public JWK, with the JWK's `kid`. */
export async function encryptToJwk(payload: unknown, jwk: JWK, alg: 'RSA-OAEP-256' | 'ECDH-ES'): Promise<string> {
  if (!jwk.kid) throw new TypeError('the encryption key has no kid');
  const key = await importJWK({ ...jwk, alg }, alg);
  return new CompactEncrypt(encoder.encode(JSON.stringify(payload))).setProtectedHeader({ alg, enc: 'A256GCM', kid: jwk.kid }).encrypt(key);
}

/** Decrypts a compact JWE (e.g. transaction credentials) with your private key; returns its JSON. */
export async function decryptJwe<T = Record<string, unknown>>(jwe: string, privateKey: Key | JWK): Promise<T> {
  const key = isJwk(privateKey) ? await importJWK(privateKey, privateKey.alg ?? (privateKey.kty === 'RSA' ? 'RSA-OAEP-256' : 'ECDH-ES')) : privateKey;
  const { plaintext } = await compactDecrypt(jwe, key);
  return JSON.parse(new TextDecoder().decode(plaintext)) as T;
}

function isJwk(k: unknown): k is JWK {
  return typeof k === 'object' && k !== null && 'kty' in k && typeof (k as { kty: unknown }).kty === 'string';
}

/** An ES256 private key: a JWK with `d` (its `kid` is used), or a key object and its `kid`. */
export type SigningKey = JWK | { key: Key; kid: string };

export async function importSigningKey(k: SigningKey): Promise<{ key: Key; kid: string }> {
  if (isJwk(k)) {
    if (!k.kid) throw new TypeError('the signing JWK has no kid');
    if (!k.d) throw new TypeError('the signing JWK is not a private key');
    return { key: await importJWK(k, 'ES256'), kid: k.kid };
  }
  return k;
}

/** RFC 8785 canonical JSON: keys sorted by UTF-16 code units, no whitespace, ECMAScript numbers. */
export function canonicalize(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('JCS: numbers must be finite');
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('JCS: value cannot be represented in JSON');
    return text;
  }
  if (Array.isArray(value)) return '[' + value.map((v) => canonicalize(v)).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalize(obj[k])).join(',') + '}';
}

/** A detached ES256 JWS (`protected..signature`, RFC 7515 appendix F) over `payload`. */
export async function signDetached(payload: string, signer: { key: Key; kid: string }): Promise<string> {
  const jws = await new CompactSign(encoder.encode(payload)).setProtectedHeader({ alg: 'ES256', kid: signer.kid }).sign(signer.key);
  const [protectedHeader, , signature] = jws.split('.');
  return `${protectedHeader}..${signature}`;
}

/** A published key set, fetched when first needed and kept for `ttlMs`. */
export class KeyCache {
  #keys: JWK[] | undefined;
  #at = 0;
  readonly #load: () => Promise<{ keys: JWK[] }>;
  readonly #ttlMs: number;

  constructor(load: () => Promise<{ keys: JWK[] }>, ttlMs: number) {
    this.#load = load;
    this.#ttlMs = ttlMs;
  }

  /** The key to encrypt to: the first of the set (Tessera lists its current key first). */
  async current(forceRefresh = false): Promise<JWK> {
    if (forceRefresh || !this.#keys || Date.now() - this.#at > this.#ttlMs) {
      this.#keys = (await this.#load()).keys;
      this.#at = Date.now();
    }
    const key = this.#keys[0];
    if (!key) throw new TypeError('Tessera published no encryption key');
    return key;
  }
}
