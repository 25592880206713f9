import { randomBytes } from 'node:crypto';
import { assertNoPan } from '../domain/card.ts';
import { newObjectId } from '../domain/tokens.ts';
import type { Db } from '../storage/database.ts';
import { insertMerchant } from '../storage/repos/merchants.ts';
import { sha256Hex } from '../vault/master-key.ts';
import type { Vault } from '../vault/vault.ts';

export interface MerchantServiceDeps {
  db: Db;
  vault: Vault;
  now: () => number;
}

/** What merchant creation shows once: the private key and webhook secret are not retrievable later. */
export interface CreatedMerchant {
  id: string;
  name: string;
  publicKey: string;
  privateKey: string;
  webhookSecret: string;
  notificationUrl: string | null;
}

export function createMerchantService(deps: MerchantServiceDeps) {
  return {
    /** Creates a merchant with its credentials and its own data keys, in one transaction. */
    async create(input: { name: string; notificationUrl?: string | undefined }): Promise<CreatedMerchant> {
      assertNoPan(input.name, 'name');
      const now = deps.now();
      const id = newObjectId(now);
      const publicKey = 'pk_' + randomBytes(16).toString('hex');
      const privateKey = 'sk_' + randomBytes(24).toString('hex');
      const webhookSecret = 'whsec_' + randomBytes(24).toString('base64');
      await deps.db.kysely.transaction().execute(async (trx) => {
        await deps.vault.createTenantKeys(trx, id, now);
        const webhookSecretCt = await deps.vault.encrypt(id, webhookSecret, `merchant:${id}:webhook_secret`, trx);
        await insertMerchant(trx, {
          id,
          name: input.name,
          public_key: publicKey,
          private_key_hash: sha256Hex(privateKey),
          webhook_secret_ct: webhookSecretCt,
          notification_url: input.notificationUrl ?? null,
          status: 'active',
          created_at: now,
        });
      });
      return { id, name: input.name, publicKey, privateKey, webhookSecret, notificationUrl: input.notificationUrl ?? null };
    },
  };
}

export type MerchantService = ReturnType<typeof createMerchantService>;
