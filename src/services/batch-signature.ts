import { createPublicKey, createVerify, type KeyObject, type Verify } from 'node:crypto';
import type { JWK } from 'jose';
import { TesseraError } from '../domain/errors.ts';

/**
 * Detached JWS (RFC 7515 appendix F: `protected..signature`) over a batch file's RFC 8785 canonical
 * `{header, records}`, verified as a stream: the payload is never held whole. ES256 only, with a
 * registered `kid`. The payload is base64url-encoded in the signing input, as JWS specifies, unless
 * the protected header says `"b64": false` (RFC 7797, with `"crit": ["b64"]`).
 */
export interface DetachedJws {
  kid: string;
  b64: boolean;
  protectedB64: string;
  signature: Buffer;
}

const bad = (message: string) => new TesseraError('invalid_signature', message, 'signature');

export function parseDetachedJws(value: unknown): DetachedJws {
  if (typeof value !== 'string' || value.length > 4096) throw bad('signature must be a detached JWS (protected..signature).');
  const parts = value.split('.');
  if (parts.length !== 3 || parts[1] !== '' || !parts[0] || !parts[2]) throw bad('signature must be a detached JWS (protected..signature), with an empty payload part.');
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw bad('The signature’s protected header does not parse.');
  }
  if (header.alg !== 'ES256') throw bad('The batch file must be signed with ES256.');
  if (typeof header.kid !== 'string' || header.kid === '') throw bad('The signature’s protected header must name its key (kid).');
  const b64 = header.b64 !== false;
  if (!b64 && !(Array.isArray(header.crit) && header.crit.includes('b64'))) throw bad('"b64": false requires "crit": ["b64"].');
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== 64) throw bad('An ES256 signature has 64 bytes.');
  return { kid: header.kid, b64, protectedB64: parts[0], signature };
}

/** Feeds the signing input piece by piece: `protected '.' base64url(payload)` (or the raw payload). */
export class SigningInput {
  readonly #verify: Verify;
  readonly #b64: boolean;
  #rest = Buffer.alloc(0);

  constructor(jws: DetachedJws) {
    this.#verify = createVerify('SHA256');
    this.#b64 = jws.b64;
    this.#verify.update(jws.protectedB64 + '.');
  }

  update(text: string): void {
    if (!this.#b64) {
      this.#verify.update(text, 'utf8');
      return;
    }
    // base64url of 3-byte-aligned pieces concatenates to the base64url of the whole.
    const buf = this.#rest.length ? Buffer.concat([this.#rest, Buffer.from(text, 'utf8')]) : Buffer.from(text, 'utf8');
    const aligned = buf.length - (buf.length % 3);
    this.#verify.update(buf.subarray(0, aligned).toString('base64url'));
    this.#rest = Buffer.from(buf.subarray(aligned));
  }

  verify(jwk: JWK, signature: Buffer): boolean {
    if (this.#b64 && this.#rest.length) this.#verify.update(this.#rest.toString('base64url'));
    const key: KeyObject = createPublicKey({ key: jwk as never, format: 'jwk' });
    return this.#verify.verify({ key, dsaEncoding: 'ieee-p1363' }, signature);
  }
}
