import { randomBytes } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import { normalizeOrigins } from '../domain/origins.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { findMerchant } from '../storage/repos/merchants.ts';
import { findByPublishableKey, findPublishableKeyOf, insertPublishableKey, setAllowedOrigins } from '../storage/repos/publishable-keys.ts';

/**
 * Hosted card fields. Glossary: the *publishable key* (`pk_test_…`, `pk_live_…`) identifies a
 * merchant in browsers and is public by design; it can only create tokens, only through Tessera's
 * card frame embedded by an *allowed origin* (`allowed_origins`, set by the merchant).
 */
export interface ElementsServiceDeps {
  db: Db;
  now: () => number;
  /** Production keys say `pk_live_`, sandbox ones `pk_test_`. Default false. */
  livemode?: boolean;
}

export interface ElementsSettings {
  publishable_key: string;
  allowed_origins: string[];
}

export function createElementsService(deps: ElementsServiceDeps) {
  const k = deps.db.kysely;
  const prefix = deps.livemode ? 'pk_live_' : 'pk_test_';

  async function settings(merchantId: string): Promise<ElementsSettings> {
    const row = await findPublishableKeyOf(k, merchantId);
    if (!row) throw new TesseraError('not_found', 'No such merchant.');
    return { publishable_key: row.publishable_key, allowed_origins: JSON.parse(row.allowed_origins) as string[] };
  }

  return {
    /** Gives a new merchant its publishable key, in the merchant's creation transaction. */
    async createKey(trx: Executor, merchantId: string, now: number): Promise<string> {
      const key = prefix + randomBytes(16).toString('hex');
      await insertPublishableKey(trx, { merchant_id: merchantId, publishable_key: key, allowed_origins: '[]', updated_at: now });
      return key;
    },

    settings,

    /** The name the hosted payment page shows for a merchant. */
    async displayName(merchantId: string): Promise<string> {
      return (await findMerchant(k, merchantId))?.name ?? '';
    },

    /** `PATCH /api/merchant/settings`: replaces the allowed origins (validated, normalized). */
    async update(merchantId: string, input: { allowed_origins?: unknown }): Promise<ElementsSettings> {
      if (input.allowed_origins !== undefined) {
        const origins = normalizeOrigins(input.allowed_origins);
        await setAllowedOrigins(k, merchantId, JSON.stringify(origins), deps.now());
      }
      return settings(merchantId);
    },

    /**
     * The merchant behind a publishable key, if `origin` is one it allowed. An unknown key (or a
     * deleted merchant's) is `unauthorized` whatever the origin, so a key's answer never tells one
     * merchant about another; a known key from another origin is `origin_not_allowed`.
     */
    async authenticate(publishableKey: string, origin: string | undefined): Promise<string> {
      const row = /^pk_(test|live)_[0-9a-f]{32}$/.test(publishableKey) ? await findByPublishableKey(k, publishableKey) : undefined;
      if (!row || row.status !== 'active') throw new TesseraError('unauthorized', 'Missing or invalid publishable key.');
      const allowed = JSON.parse(row.allowed_origins) as string[];
      if (origin === undefined || !allowed.includes(origin)) {
        throw new TesseraError('origin_not_allowed', 'This page’s origin is not allowed to use this publishable key: add it to allowed_origins.', 'origin');
      }
      return row.merchant_id;
    },
  };
}

export type ElementsService = ReturnType<typeof createElementsService>;
