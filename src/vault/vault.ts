import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Card } from '../domain/card.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { deleteTenantDataKeys, findActiveDataKey, findDataKey, insertDataKey } from '../storage/repos/data-keys.ts';
import { open, seal, VaultIntegrityError } from './cipher.ts';
import type { MasterKey } from './master-key.ts';

type Purpose = 'data' | 'fingerprint';

/** How long the active data-key version of a tenant is trusted from memory. Default 60 s. */
const ACTIVE_VERSION_TTL_MS = 60_000;
/**
 * How long an unwrapped data key is kept in memory before its wrapped row is read again. Bounds how
 * long another process can still use a key that `tessera merchants delete --shred` destroyed.
 * Default 60 s.
 */
const KEY_TTL_MS = 60_000;

export interface CardFingerprints {
  /** HMAC of the PAN: the same card whatever its expiry. */
  pan: string;
  /** HMAC of PAN + expiry: the same card as printed. */
  panExp: string;
}

/**
 * Envelope encryption. The master key (KEK) wraps one data key per tenant and purpose; data keys
 * encrypt card data with AES-256-GCM bound to the row (AAD). Ciphertexts are text:
 * `v<data key version>.<base64url(iv ‖ ciphertext ‖ tag)>`. Unwrapped keys stay in memory only.
 */
export class Vault {
  readonly #db: Executor;
  readonly #master: MasterKey;
  readonly #keys = new Map<string, { key: KeyObject; until: number }>();
  readonly #active = new Map<string, { version: number; until: number }>();

  constructor(db: Executor, master: MasterKey) {
    this.#db = db;
    this.#master = master;
  }

  get masterKeyId(): string {
    return this.#master.id;
  }

  /** Creates a tenant's data and fingerprint keys, in the caller's transaction. */
  async createTenantKeys(trx: Executor, tenantId: string, now: number): Promise<void> {
    for (const purpose of ['data', 'fingerprint'] as const) {
      const key = randomBytes(32);
      await insertDataKey(trx, {
        tenant_id: tenantId,
        purpose,
        version: 1,
        wrapped_key: this.#wrap(key, tenantId, purpose, 1),
        kek_id: this.#master.id,
        status: 'active',
        created_at: now,
      });
      this.#keys.set(`${tenantId}:${purpose}:1`, { key: createSecretKey(key), until: Date.now() + KEY_TTL_MS });
      this.#active.set(`${tenantId}:${purpose}`, { version: 1, until: Date.now() + ACTIVE_VERSION_TTL_MS });
    }
  }

  /**
   * Crypto-shredding: destroys a tenant's data and fingerprint keys (in the caller's transaction)
   * and forgets them here. Everything they encrypted is unreadable from then on.
   */
  async destroyTenantKeys(trx: Executor, tenantId: string): Promise<number> {
    const destroyed = await deleteTenantDataKeys(trx, tenantId);
    this.forgetTenant(tenantId);
    return destroyed;
  }

  /** Drops a tenant's unwrapped keys from memory. */
  forgetTenant(tenantId: string): void {
    for (const cacheKey of [...this.#keys.keys()]) if (cacheKey.startsWith(`${tenantId}:`)) this.#keys.delete(cacheKey);
    for (const cacheKey of [...this.#active.keys()]) if (cacheKey.startsWith(`${tenantId}:`)) this.#active.delete(cacheKey);
  }

  /** `db`: pass the open transaction when called inside one (SQLite has a single connection). */
  async encrypt(tenantId: string, plaintext: string, aad: string, db?: Executor): Promise<string> {
    const { version, key } = await this.#activeKey(tenantId, 'data', db);
    return `v${version}.` + seal(key, Buffer.from(plaintext, 'utf8'), aad).toString('base64url');
  }

  async decrypt(tenantId: string, ciphertext: string, aad: string, db?: Executor): Promise<string> {
    const dot = ciphertext.indexOf('.');
    const version = Number(ciphertext.slice(1, dot));
    if (ciphertext[0] !== 'v' || dot < 2 || !Number.isInteger(version)) throw new VaultIntegrityError();
    const key = await this.#key(tenantId, 'data', version, db);
    return open(key, Buffer.from(ciphertext.slice(dot + 1), 'base64url'), aad).toString('utf8');
  }

  async encryptCard(tenantId: string, card: Card, aad: string, db?: Executor): Promise<string> {
    return this.encrypt(tenantId, JSON.stringify([card.pan, card.expMonth, card.expYear, card.name]), aad, db);
  }

  async decryptCard(tenantId: string, ciphertext: string, aad: string, db?: Executor): Promise<Card> {
    const [pan, expMonth, expYear, name] = JSON.parse(await this.decrypt(tenantId, ciphertext, aad, db)) as string[];
    return { pan: pan ?? '', expMonth: expMonth ?? '', expYear: expYear ?? '', name: name ?? '' };
  }

  /** The HMAC of the PAN alone: all that token rows and network-token lookups need. */
  async panFingerprint(tenantId: string, pan: string, db?: Executor): Promise<string> {
    const { key } = await this.#activeKey(tenantId, 'fingerprint', db);
    return createHmac('sha256', key).update(pan).digest('hex');
  }

  async fingerprints(
    tenantId: string,
    card: Pick<Card, 'pan' | 'expMonth' | 'expYear'>,
    db?: Executor,
  ): Promise<CardFingerprints> {
    const { key } = await this.#activeKey(tenantId, 'fingerprint', db);
    return {
      pan: await this.panFingerprint(tenantId, card.pan, db),
      panExp: createHmac('sha256', key).update(`${card.pan}|${card.expMonth}|${card.expYear}`).digest('hex'),
    };
  }

  #wrap(key: Buffer, tenantId: string, purpose: Purpose, version: number): string {
    return seal(this.#master.keyObject, key, `dek:${tenantId}:${purpose}:${version}`).toString('base64url');
  }

  async #activeKey(tenantId: string, purpose: Purpose, db = this.#db): Promise<{ version: number; key: KeyObject }> {
    const cacheKey = `${tenantId}:${purpose}`;
    const now = Date.now();
    const cached = this.#active.get(cacheKey);
    if (cached && cached.until > now) {
      const key = this.#keys.get(`${cacheKey}:${cached.version}`);
      if (key && key.until > now) return { version: cached.version, key: key.key };
    }
    const row = await findActiveDataKey(db, tenantId, purpose);
    if (!row) throw new Error(`no active ${purpose} key for tenant`);
    const key = this.#unwrap(row.wrapped_key, row.kek_id, tenantId, purpose, row.version);
    this.#keys.set(`${cacheKey}:${row.version}`, { key, until: now + KEY_TTL_MS });
    this.#active.set(cacheKey, { version: row.version, until: now + ACTIVE_VERSION_TTL_MS });
    return { version: row.version, key };
  }

  async #key(tenantId: string, purpose: Purpose, version: number, db = this.#db): Promise<KeyObject> {
    const cacheKey = `${tenantId}:${purpose}:${version}`;
    const cached = this.#keys.get(cacheKey);
    const now = Date.now();
    if (cached && cached.until > now) return cached.key;
    const row = await findDataKey(db, tenantId, purpose, version);
    if (!row) {
      this.#keys.delete(cacheKey);
      throw new VaultIntegrityError();
    }
    const key = this.#unwrap(row.wrapped_key, row.kek_id, tenantId, purpose, version);
    this.#keys.set(cacheKey, { key, until: now + KEY_TTL_MS });
    return key;
  }

  #unwrap(wrapped: string, kekId: string, tenantId: string, purpose: Purpose, version: number): KeyObject {
    if (kekId !== this.#master.id) {
      throw new Error(`data key wrapped by master key ${kekId}, but the loaded master key is ${this.#master.id}`);
    }
    return createSecretKey(open(this.#master.keyObject, Buffer.from(wrapped, 'base64url'), `dek:${tenantId}:${purpose}:${version}`));
  }
}
