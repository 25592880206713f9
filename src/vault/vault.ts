import { createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import type { Card } from '../domain/card.ts';
import type { Executor } from '../storage/repos/executor.ts';
import {
  deleteTenantDataKeys,
  findActiveDataKey,
  findDataKey,
  insertDataKey,
  insertDataKeyIfAbsent,
  listDataKeysNotWrappedBy,
  rewrapDataKeys,
  retireOlderDataKeys,
} from '../storage/repos/data-keys.ts';
import { open, seal, VaultIntegrityError } from './cipher.ts';
import { LocalKeyEncryptionKeys, type KeyEncryptionKeys } from './kek.ts';
import type { MasterKey } from './master-key.ts';

type Purpose = 'data' | 'fingerprint' | 'root';

/** The `data_keys` tenant of Tessera's own root secret (the seed of every purpose-bound key). */
export const SYSTEM_TENANT = '_tessera';

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
  readonly #kek: KeyEncryptionKeys;
  readonly #keys = new Map<string, { key: KeyObject; until: number }>();
  readonly #active = new Map<string, { version: number; until: number }>();
  readonly #activeTtlMs: number;

  /**
   * `kek`: the KMS holding the master key (a bare `MasterKey` is taken as version 1 of a local one).
   * `activeVersionTtlMs`: how long the active data-key version is trusted from memory (default 60 s);
   * a data rotation waits twice this long before deleting an old version.
   */
  constructor(db: Executor, kek: KeyEncryptionKeys | MasterKey, opts: { activeVersionTtlMs?: number } = {}) {
    this.#db = db;
    this.#kek = 'keyObject' in kek ? LocalKeyEncryptionKeys.of(kek) : kek;
    this.#activeTtlMs = opts.activeVersionTtlMs ?? ACTIVE_VERSION_TTL_MS;
  }

  /** The key-check id of the active master-key version. */
  get masterKeyId(): string {
    return this.#kek.active().id;
  }

  get kek(): KeyEncryptionKeys {
    return this.#kek;
  }

  get activeVersionTtlMs(): number {
    return this.#activeTtlMs;
  }

  /**
   * Tessera's root secret, the seed of every purpose-bound key (`deriveKey`): kept in `data_keys`
   * wrapped by the master key like any data key, so it survives master-key rotation unchanged.
   * Existing installations keep their version-1 master key as the root, so nothing derived changes.
   */
  async rootSecret(now: number): Promise<Buffer> {
    let row = await findDataKey(this.#db, SYSTEM_TENANT, 'root', 1);
    if (!row) {
      const secret = this.#kek.legacyRootSecret?.() ?? randomBytes(32);
      const { kekId, wrapped } = await this.#kek.wrap(secret, dekAad(SYSTEM_TENANT, 'root', 1));
      await insertDataKeyIfAbsent(this.#db, {
        tenant_id: SYSTEM_TENANT,
        purpose: 'root',
        version: 1,
        wrapped_key: wrapped,
        kek_id: kekId,
        status: 'active',
        created_at: now,
      });
      row = await findDataKey(this.#db, SYSTEM_TENANT, 'root', 1);
      if (!row) throw new Error('root secret row vanished');
    }
    return this.#kek.unwrap(row.kek_id, row.wrapped_key, dekAad(SYSTEM_TENANT, 'root', 1));
  }

  /** Creates a tenant's data and fingerprint keys, in the caller's transaction. */
  async createTenantKeys(trx: Executor, tenantId: string, now: number): Promise<void> {
    for (const purpose of ['data', 'fingerprint'] as const) {
      const key = randomBytes(32);
      const { kekId, wrapped } = await this.#kek.wrap(key, dekAad(tenantId, purpose, 1));
      await insertDataKey(trx, {
        tenant_id: tenantId,
        purpose,
        version: 1,
        wrapped_key: wrapped,
        kek_id: kekId,
        status: 'active',
        created_at: now,
      });
      this.#keys.set(`${tenantId}:${purpose}:1`, { key: createSecretKey(key), until: Date.now() + KEY_TTL_MS });
      this.#active.set(`${tenantId}:${purpose}`, { version: 1, until: Date.now() + this.#activeTtlMs });
    }
  }

  /**
   * Data rotation: a new data-key version for a tenant (its fingerprint key never changes, so
   * fingerprints stay stable). Older data versions become `retiring`: they still decrypt, and new
   * ciphertexts use the new one (other processes within `activeVersionTtlMs`). Returns the version.
   */
  async rotateDataKey(tenantId: string, now: number, db: Executor = this.#db): Promise<number> {
    const current = await findActiveDataKey(db, tenantId, 'data');
    if (!current) throw new Error('tenant has no data key (shredded?)');
    const version = current.version + 1;
    const key = randomBytes(32);
    const { kekId, wrapped } = await this.#kek.wrap(key, dekAad(tenantId, 'data', version));
    const inserted = await insertDataKeyIfAbsent(db, {
      tenant_id: tenantId,
      purpose: 'data',
      version,
      wrapped_key: wrapped,
      kek_id: kekId,
      status: 'active',
      created_at: now,
    });
    if (!inserted) return version;
    await retireOlderDataKeys(db, tenantId, 'data', version);
    // Not cached as active here: the caller's transaction may not commit. The next use reads the row.
    this.#active.delete(`${tenantId}:data`);
    return version;
  }

  /**
   * Master-key rotation: re-wraps up to `limit` data keys not wrapped by the active master-key
   * version. The keys themselves do not change (nor does any ciphertext or fingerprint). Returns
   * how many were re-wrapped; 0 when none is left.
   */
  async rewrapBatch(limit: number): Promise<number> {
    const active = this.#kek.active().id;
    const rows = await listDataKeysNotWrappedBy(this.#db, active, limit);
    const rewraps: { row: (typeof rows)[number]; kekId: string; wrapped: string }[] = [];
    for (const row of rows) {
      const aad = dekAad(row.tenant_id, row.purpose as Purpose, row.version);
      const key = await this.#kek.unwrap(row.kek_id, row.wrapped_key, aad);
      rewraps.push({ row, ...(await this.#kek.wrap(key, aad)) });
    }
    // One statement; a row that someone changed (or shredded) meanwhile is left alone.
    return rewrapDataKeys(this.#db, rewraps);
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
    const key = await this.#unwrap(row.wrapped_key, row.kek_id, tenantId, purpose, row.version);
    this.#keys.set(`${cacheKey}:${row.version}`, { key, until: now + KEY_TTL_MS });
    this.#active.set(cacheKey, { version: row.version, until: now + this.#activeTtlMs });
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
    const key = await this.#unwrap(row.wrapped_key, row.kek_id, tenantId, purpose, version);
    this.#keys.set(cacheKey, { key, until: now + KEY_TTL_MS });
    return key;
  }

  async #unwrap(wrapped: string, kekId: string, tenantId: string, purpose: Purpose, version: number): Promise<KeyObject> {
    return createSecretKey(await this.#kek.unwrap(kekId, wrapped, dekAad(tenantId, purpose, version)));
  }
}

/** A wrapped data key is bound to its row: a wrapped key copied to another tenant does not unwrap. */
function dekAad(tenantId: string, purpose: Purpose, version: number): string {
  return `dek:${tenantId}:${purpose}:${version}`;
}
