import { createPrivateKey, createSecretKey, randomBytes, type JsonWebKey as NodeJsonWebKey, type KeyObject } from 'node:crypto';
import { CompactEncrypt, compactDecrypt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { TesseraError } from '../domain/errors.ts';
import type { Executor } from '../storage/repos/executor.ts';
import {
  demoteServiceKeys,
  insertServiceKey,
  latestServiceKeyGeneration,
  listUsableServiceKeys,
  listExpiredServiceKeys,
  retireServiceKey,
  setServiceKeyGrace,
} from '../storage/repos/service-keys.ts';
import { open, seal } from './cipher.ts';
import { JwePool, type PoolKey } from './jwe-pool.ts';

/** The only algorithms accepted in, and used for, `/cof/v1` JWEs. */
export const JWE_ALG = 'RSA-OAEP-256';
export const JWE_ENC = 'A256GCM';
const PURPOSE = 'cof-enc';
/** How long the key list is trusted from memory, so a rotation by another process is seen. Default 60 s. */
const KEYS_TTL_MS = 60_000;
/** An unknown `kid` reloads the key list at most this often (bad clients must not hammer the database). */
const MISS_RELOAD_MS = 1_000;

export interface PublicJwk extends JWK {
  kty: 'RSA';
  n: string;
  e: string;
  kid: string;
  use: 'enc';
  alg: typeof JWE_ALG;
}

/** Tessera's EC P-256 keys for the issuer face: issuers' JWEs use `ECDH-ES` + `A256GCM`. */
export interface EcPublicJwk extends JWK {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid: string;
  use: 'enc';
  alg: 'ECDH-ES';
}

/** What a key ring holds and accepts. Default: the `/cof/v1` RSA-OAEP-256 ring. */
export interface KeyRingSpec<J extends JWK> {
  /** `service_keys.purpose`. */
  purpose: string;
  alg: string;
  enc: string;
  /** Where clients find the keys (named in error messages). */
  keysPath: string;
  generate(): Promise<{ publicKey: CryptoKey; privateKey: CryptoKey }>;
  publicJwk(exported: JWK, kid: string): J;
}

export const RSA_RING: KeyRingSpec<PublicJwk> = {
  purpose: PURPOSE,
  alg: JWE_ALG,
  enc: JWE_ENC,
  keysPath: 'GET /cof/v1/keys',
  generate: () => generateKeyPair(JWE_ALG, { modulusLength: 2048, extractable: true }),
  publicJwk: (e, kid) => ({ kty: 'RSA', n: e.n ?? '', e: e.e ?? '', kid, use: 'enc', alg: JWE_ALG }),
};

/** The issuer face's ring: EC P-256, `ECDH-ES` (direct key agreement) + `A256GCM`. */
export const EC_RING: KeyRingSpec<EcPublicJwk> = {
  purpose: 'd1-enc',
  alg: 'ECDH-ES',
  enc: JWE_ENC,
  keysPath: 'GET /banking/v1/keys',
  generate: () => generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true }),
  publicJwk: (e, kid) => ({ kty: 'EC', crv: 'P-256', x: e.x ?? '', y: e.y ?? '', kid, use: 'enc', alg: 'ECDH-ES' }),
};

interface LoadedKey<J extends JWK> {
  kid: string;
  status: string;
  /** Decrypt-only keys stop decrypting at this time (the grace period), even before the job retires them. */
  retireAfter: number | null;
  publicJwk: J;
  privateKey: CryptoKey;
  /** For the decryption threads, when the ring has them. */
  poolKey?: PoolKey;
}

/**
 * Tessera's RSA-OAEP-256 keys for the `/cof/v1` face. Keys live in `service_keys`, the private half
 * sealed (AES-256-GCM, AAD bound to the kid) under a key derived from the master key. One key is
 * active (published first, used by clients); after `rotate()` older keys stay published and decrypt
 * until `retire()` erases them.
 */
export class ServiceKeyRing<J extends JWK = PublicJwk> {
  readonly #db: Executor;
  readonly #sealKey: KeyObject;
  readonly #kekId: string;
  readonly #spec: KeyRingSpec<J>;
  readonly #graceMs: number | undefined;
  readonly #pool: JwePool | undefined;
  #keys: LoadedKey<J>[] = [];
  #loadedAt = 0;
  #lastMissReload = 0;

  /**
   * `graceMs`: how long a rotated-out key still decrypts before it is retired automatically. Default:
   * until retired by hand. `threads` (ECDH-ES rings only): decrypt on a `JwePool` of this many worker
   * threads (the header checks and key choice stay here). Default 0: on the calling thread.
   */
  constructor(db: Executor, sealKey: Buffer, kekId: string, spec?: KeyRingSpec<J>, opts: { graceMs?: number; threads?: number } = {}) {
    this.#graceMs = opts.graceMs;
    this.#db = db;
    this.#sealKey = createSecretKey(sealKey);
    this.#kekId = kekId;
    this.#spec = spec ?? (RSA_RING as unknown as KeyRingSpec<J>);
    const { alg, enc } = this.#spec;
    const options = { keyManagementAlgorithms: [alg], contentEncryptionAlgorithms: [enc] };
    const local = async (key: PoolKey, jwe: string) => {
      const loaded = this.#keys.find((k) => k.kid === key.kid);
      if (!loaded) return null;
      return compactDecrypt(jwe, loaded.privateKey, options).then((r) => r.plaintext, () => null);
    };
    this.#pool = opts.threads && alg === 'ECDH-ES' && enc === 'A256GCM' ? new JwePool({ size: opts.threads, local }) : undefined;
  }

  /** Stops the decryption threads, if any (they start again when needed). */
  async close(): Promise<void> {
    await this.#pool?.close();
  }

  /** Creates the first key if there is none (safe when several processes start at once). */
  async ensureKey(now = Date.now()): Promise<void> {
    if ((await latestServiceKeyGeneration(this.#db, this.#spec.purpose)) === 0) await this.#create(1, now);
    await this.#reload();
  }

  /** Adds a new active key; the previous ones become decrypt-only. Returns the new kid. */
  async rotate(now = Date.now()): Promise<string> {
    for (;;) {
      const generation = (await latestServiceKeyGeneration(this.#db, this.#spec.purpose)) + 1;
      const kid = await this.#create(generation, now);
      if (kid) {
        await demoteServiceKeys(this.#db, this.#spec.purpose, generation);
        if (this.#graceMs !== undefined) await setServiceKeyGrace(this.#db, this.#spec.purpose, now + this.#graceMs);
        await this.#reload();
        return kid;
      }
    }
  }

  /** Retires a decrypt-only key: it disappears from the JWKS and decrypts nothing more. */
  async retire(kid: string, now = Date.now()): Promise<boolean> {
    const done = await retireServiceKey(this.#db, kid, now);
    await this.#reload();
    return done;
  }

  /** Retires every decrypt-only key whose grace period is over (the recurring job). Returns their kids. */
  async retireExpired(now = Date.now()): Promise<string[]> {
    const kids: string[] = [];
    for (const kid of await listExpiredServiceKeys(this.#db, this.#spec.purpose, now)) if (await retireServiceKey(this.#db, kid, now)) kids.push(kid);
    if (kids.length > 0) await this.#reload();
    return kids;
  }

  /** Keys with their state, for `tessera jwks list`. */
  async describe(): Promise<{ kid: string; status: string; retireAfter: string | null }[]> {
    return (await this.#reload()).map((k) => ({ kid: k.kid, status: k.status, retireAfter: k.retireAfter === null ? null : new Date(k.retireAfter).toISOString() }));
  }

  /** The published JWKS: the active key first, then keys that still decrypt. */
  async jwks(): Promise<{ keys: J[] }> {
    const now = Date.now();
    return { keys: (await this.#current()).filter((k) => k.retireAfter === null || k.retireAfter > now).map((k) => k.publicJwk) };
  }

  /**
   * Decrypts a compact JWE sent to Tessera. The protected header is checked strictly before any
   * key is touched: `alg` RSA-OAEP-256, `enc` A256GCM, no `zip`/`crit`, and a `kid` of ours.
   */
  async decrypt(jwe: string, param = 'encryptedData'): Promise<Uint8Array> {
    if (typeof jwe !== 'string' || jwe.split('.').length !== 5) {
      throw new TesseraError('invalid_encrypted_data', `${param} must be a compact JWE (five dot-separated parts).`, param);
    }
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(jwe);
    } catch {
      throw new TesseraError('invalid_encrypted_data', `${param} has a protected header that does not parse.`, param);
    }
    const { alg, enc, keysPath } = this.#spec;
    if (header.alg !== alg || header.enc !== enc) {
      throw new TesseraError('unsupported_algorithm', `${param} must use alg ${alg} and enc ${enc}.`, param);
    }
    const epk = header.epk as { kty?: unknown; crv?: unknown } | undefined;
    if (alg === 'ECDH-ES' && (epk?.kty !== 'EC' || epk.crv !== 'P-256')) {
      throw new TesseraError('unsupported_algorithm', `${param} must carry an ephemeral EC P-256 key (epk).`, param);
    }
    if (header.zip !== undefined || header.crit !== undefined) {
      throw new TesseraError('unsupported_algorithm', `${param} must not use zip or crit.`, param);
    }
    if (typeof header.kid !== 'string' || header.kid === '') {
      throw new TesseraError('unknown_key', `${param} must name the key it is encrypted to (kid); see ${keysPath}.`, param);
    }
    const key = await this.#find(header.kid);
    if (!key) throw new TesseraError('unknown_key', `${param} is encrypted to a key Tessera does not have; see ${keysPath}.`, param);
    if (this.#pool && key.poolKey) {
      const plaintext = await this.#pool.decrypt(key.poolKey, jwe);
      if (!plaintext) throw new TesseraError('decryption_failed', `${param} could not be decrypted (wrong key or altered ciphertext).`, param);
      return plaintext;
    }
    try {
      const { plaintext } = await compactDecrypt(jwe, key.privateKey, {
        keyManagementAlgorithms: [alg],
        contentEncryptionAlgorithms: [enc],
      });
      return plaintext;
    } catch {
      throw new TesseraError('decryption_failed', `${param} could not be decrypted (wrong key or altered ciphertext).`, param);
    }
  }

  async #create(generation: number, now: number): Promise<string | undefined> {
    const { publicKey, privateKey } = await this.#spec.generate();
    const kid = `tessera-${new Date(now).toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
    const publicJwk = this.#spec.publicJwk(await exportJWK(publicKey), kid);
    const privateJwk = await exportJWK(privateKey);
    const inserted = await insertServiceKey(this.#db, {
      kid,
      purpose: this.#spec.purpose,
      generation,
      status: 'active',
      public_jwk: JSON.stringify(publicJwk),
      private_ct: seal(this.#sealKey, Buffer.from(JSON.stringify(privateJwk)), `service-key:${kid}`).toString('base64url'),
      kek_id: this.#kekId,
      created_at: now,
      retired_at: null,
    });
    return inserted ? kid : undefined;
  }

  async #reload(): Promise<LoadedKey<J>[]> {
    const rows = await listUsableServiceKeys(this.#db, this.#spec.purpose);
    const known = new Map(this.#keys.map((k) => [k.kid, k]));
    const keys: LoadedKey<J>[] = [];
    for (const row of rows) {
      const cached = known.get(row.kid);
      if (cached) {
        keys.push({ ...cached, status: row.status, retireAfter: row.retire_after == null ? null : Number(row.retire_after) });
        continue;
      }
      if (row.kek_id !== this.#kekId) throw new Error(`service key ${row.kid} is sealed by another master key`);
      const jwk = JSON.parse(open(this.#sealKey, Buffer.from(row.private_ct, 'base64url'), `service-key:${row.kid}`).toString('utf8')) as JWK;
      const privateKey = (await importJWK(jwk, this.#spec.alg)) as CryptoKey;
      const poolKey = this.#pool ? { kid: row.kid, keyObject: createPrivateKey({ key: jwk as NodeJsonWebKey, format: 'jwk' }) } : undefined;
      keys.push({ kid: row.kid, status: row.status, retireAfter: row.retire_after == null ? null : Number(row.retire_after), publicJwk: JSON.parse(row.public_jwk) as J, privateKey, ...(poolKey ? { poolKey } : {}) });
    }
    this.#keys = keys;
    this.#loadedAt = Date.now();
    return keys;
  }

  async #current(): Promise<LoadedKey<J>[]> {
    if (Date.now() - this.#loadedAt > KEYS_TTL_MS) return this.#reload();
    return this.#keys;
  }

  async #find(kid: string): Promise<LoadedKey<J> | undefined> {
    const usable = (k: LoadedKey<J>) => k.kid === kid && (k.retireAfter === null || k.retireAfter > Date.now());
    const hit = (await this.#current()).find(usable);
    if (hit || Date.now() - this.#lastMissReload < MISS_RELOAD_MS) return hit;
    this.#lastMissReload = Date.now();
    return (await this.#reload()).find(usable);
  }
}


/**
 * Encrypts `payload` to the first key of a merchant's JWKS (RSA-OAEP-256 + A256GCM, `kid` in the
 * header). Imported keys are cached by their JWK text.
 */
export class MerchantEncrypter {
  readonly #cache = new Map<string, CryptoKey>();

  async encrypt(jwks: { keys: JWK[] }, payload: unknown): Promise<string> {
    const jwk = jwks.keys[0];
    if (!jwk || typeof jwk.kid !== 'string') throw new TesseraError('encryption_key_required', 'Register an RSA public key (jwks) first.');
    const cacheKey = `${jwk.kid}.${jwk.n}`;
    let key = this.#cache.get(cacheKey);
    if (!key) {
      key = (await importJWK(jwk, JWE_ALG)) as CryptoKey;
      if (this.#cache.size > 1000) this.#cache.clear();
      this.#cache.set(cacheKey, key);
    }
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
      .setProtectedHeader({ alg: JWE_ALG, enc: JWE_ENC, kid: jwk.kid, cty: 'application/json' })
      .encrypt(key);
  }
}
