import { randomBytes } from 'node:crypto';
import { importJWK, type JWK } from 'jose';
import { TesseraError } from '../domain/errors.ts';
import { assertNoPan } from '../domain/card.ts';
import { newObjectId } from '../domain/tokens.ts';
import type { Db } from '../storage/database.ts';
import { findMerchant, insertMerchant, setMerchantStatus, updateMerchant } from '../storage/repos/merchants.ts';
import type { AuditService } from './audit.ts';
import type { ElementsService } from './elements.ts';
import { sha256Hex } from '../vault/master-key.ts';
import type { Vault } from '../vault/vault.ts';

export interface MerchantServiceDeps {
  db: Db;
  vault: Vault;
  /** Records a crypto-shredding. Optional so that callers without an audit log still build. */
  audit?: AuditService | undefined;
  now: () => number;
  /** Gives each new merchant its publishable key (hosted card fields). Optional for callers without them. */
  elements?: Pick<ElementsService, 'createKey'> | undefined;
}

/** What merchant creation shows once: the private key and webhook secret are not retrievable later. */
export interface CreatedMerchant {
  id: string;
  name: string;
  publicKey: string;
  privateKey: string;
  webhookSecret: string;
  notificationUrl: string | null;
  /** For hosted card fields in browsers (public by design); also at `GET /api/merchant/settings`. */
  publishableKey: string | null;
}

/** A merchant's public key set: RSA keys with a `kid`, to which transaction credentials are encrypted. */
export interface MerchantJwks {
  keys: RsaPublicJwk[];
}

export interface RsaPublicJwk extends JWK {
  kty: 'RSA';
  kid: string;
  n: string;
  e: string;
}

/** The merchant's settings on the `/cof/v1` face. */
export interface MerchantSettings {
  merchantId: string;
  notificationUrl: string | null;
  jwks: MerchantJwks | null;
}

/** AAD of a merchant's webhook secret ciphertext. */
export const webhookSecretAad = (merchantId: string) => `merchant:${merchantId}:webhook_secret`;

const MAX_KEYS = 10;

/** Where notifications may go: an absolute http(s) URL without credentials. */
export function validateNotificationUrl(value: string, param = 'notificationUrl'): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TesseraError('invalid_field', `${param} must be an absolute http(s) URL.`, param);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || value.length > 2048) {
    throw new TesseraError('invalid_field', `${param} must be an http(s) URL without credentials, at most 2048 characters.`, param);
  }
  return url.toString();
}

/**
 * Checks a merchant JWKS: each key a public RSA key (≥ 2048 bits) with a unique `kid`, usable for
 * RSA-OAEP-256 encryption. A private key part is refused outright: Tessera must never hold it.
 */
export async function validateJwks(value: unknown): Promise<MerchantJwks> {
  const bad = (message: string) => new TesseraError('invalid_jwks', message, 'jwks');
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) throw bad('jwks must be {"keys": [...]}.');
  const keys = (value as { keys: unknown[] }).keys;
  if (keys.length === 0 || keys.length > MAX_KEYS) throw bad(`jwks must hold between 1 and ${MAX_KEYS} keys.`);
  const kids = new Set<string>();
  const clean: RsaPublicJwk[] = [];
  for (const [i, raw] of keys.entries()) {
    if (typeof raw !== 'object' || raw === null) throw bad(`jwks.keys[${i}] must be a JWK object.`);
    const k = raw as Record<string, unknown>;
    if (k.kty !== 'RSA') throw bad(`jwks.keys[${i}] must be an RSA key (kty "RSA").`);
    if (['d', 'p', 'q', 'dp', 'dq', 'qi'].some((f) => f in k)) throw bad(`jwks.keys[${i}] holds a private key part: send only the public key.`);
    if (typeof k.kid !== 'string' || k.kid.length === 0 || k.kid.length > 128) throw bad(`jwks.keys[${i}].kid is required (1–128 characters).`);
    if (kids.has(k.kid)) throw bad(`jwks.keys[${i}].kid is used twice.`);
    if (k.use !== undefined && k.use !== 'enc') throw bad(`jwks.keys[${i}].use must be "enc".`);
    if (k.alg !== undefined && k.alg !== 'RSA-OAEP-256') throw bad(`jwks.keys[${i}].alg must be "RSA-OAEP-256".`);
    if (typeof k.n !== 'string' || typeof k.e !== 'string') throw bad(`jwks.keys[${i}] needs n and e.`);
    if (Buffer.from(k.n, 'base64url').length < 256) throw bad(`jwks.keys[${i}] must be at least 2048 bits.`);
    const jwk: RsaPublicJwk = { kty: 'RSA', kid: k.kid, n: k.n, e: k.e, use: 'enc', alg: 'RSA-OAEP-256' };
    try {
      await importJWK(jwk, 'RSA-OAEP-256');
    } catch {
      throw bad(`jwks.keys[${i}] is not a valid RSA public key.`);
    }
    kids.add(k.kid);
    clean.push(jwk);
  }
  return { keys: clean };
}

export function createMerchantService(deps: MerchantServiceDeps) {
  const k = deps.db.kysely;

  async function settings(merchantId: string): Promise<MerchantSettings> {
    const row = await findMerchant(k, merchantId);
    if (!row) throw new TesseraError('not_found', 'No such merchant.');
    return { merchantId, notificationUrl: row.notification_url, jwks: row.jwks ? (JSON.parse(row.jwks) as MerchantJwks) : null };
  }

  return {
    /** Creates a merchant with its credentials and its own data keys, in one transaction. */
    async create(input: { name: string; notificationUrl?: string | undefined }): Promise<CreatedMerchant> {
      assertNoPan(input.name, 'name');
      const now = deps.now();
      const id = newObjectId(now);
      const publicKey = 'pk_' + randomBytes(16).toString('hex');
      const privateKey = 'sk_' + randomBytes(24).toString('hex');
      const webhookSecret = 'whsec_' + randomBytes(24).toString('base64');
      const notificationUrl = input.notificationUrl === undefined ? null : validateNotificationUrl(input.notificationUrl, 'notify-url');
      let publishableKey: string | null = null;
      await deps.db.kysely.transaction().execute(async (trx) => {
        await deps.vault.createTenantKeys(trx, id, now);
        const webhookSecretCt = await deps.vault.encrypt(id, webhookSecret, webhookSecretAad(id), trx);
        await insertMerchant(trx, {
          id,
          name: input.name,
          public_key: publicKey,
          private_key_hash: sha256Hex(privateKey),
          webhook_secret_ct: webhookSecretCt,
          notification_url: notificationUrl,
          status: 'active',
          created_at: now,
          jwks: null,
        });
        if (deps.elements) publishableKey = await deps.elements.createKey(trx, id, now);
      });
      return { id, name: input.name, publicKey, privateKey, webhookSecret, notificationUrl, publishableKey };
    },

    settings,

    /**
     * `tessera merchants delete <id> [--shred]`: the merchant can no longer authenticate; with
     * `shred`, its data keys are destroyed in the same transaction, so every card, token, CVC and
     * secret encrypted under them is unrecoverable at once (crypto-shredding).
     */
    async delete(merchantId: string, opts: { shred: boolean }): Promise<{ id: string; deleted: true; shredded: boolean; dataKeysDestroyed: number }> {
      if (!(await findMerchant(k, merchantId))) throw new TesseraError('merchant_not_found', 'No such merchant.');
      let destroyed = 0;
      await k.transaction().execute(async (trx) => {
        await setMerchantStatus(trx, merchantId, 'deleted');
        if (opts.shred) destroyed = await deps.vault.destroyTenantKeys(trx, merchantId);
        await deps.audit?.record(
          { tenantId: merchantId, operation: opts.shred ? 'merchant.shred' : 'merchant.delete', reason: opts.shred ? `merchant deleted; ${destroyed} data keys destroyed` : 'merchant deleted' },
          trx,
        );
      });
      deps.vault.forgetTenant(merchantId);
      return { id: merchantId, deleted: true, shredded: opts.shred, dataKeysDestroyed: destroyed };
    },

    /** `PATCH /cof/v1/merchants/:id`: where notifications go and the keys credentials are encrypted to. */
    async update(merchantId: string, input: { notificationUrl?: string | null | undefined; jwks?: unknown }): Promise<MerchantSettings> {
      const patch: { notification_url?: string | null; jwks?: string } = {};
      if (input.notificationUrl !== undefined) {
        patch.notification_url = input.notificationUrl === null ? null : validateNotificationUrl(input.notificationUrl);
      }
      if (input.jwks !== undefined) patch.jwks = JSON.stringify(await validateJwks(input.jwks));
      if (Object.keys(patch).length > 0) await updateMerchant(k, merchantId, patch);
      return settings(merchantId);
    },
  };
}

export type MerchantService = ReturnType<typeof createMerchantService>;
