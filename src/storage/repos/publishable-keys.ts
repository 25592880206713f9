import type { MerchantPublishableKeysTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type PublishableKeyRow = MerchantPublishableKeysTable;

export async function insertPublishableKey(db: Executor, row: PublishableKeyRow): Promise<void> {
  await db.insertInto('merchant_publishable_keys').values(row).execute();
}

export async function findPublishableKeyOf(db: Executor, merchantId: string): Promise<PublishableKeyRow | undefined> {
  return db.selectFrom('merchant_publishable_keys').selectAll().where('merchant_id', '=', merchantId).executeTakeFirst();
}

/** The key's row with its merchant's status (only active merchants' keys work). */
export async function findByPublishableKey(db: Executor, key: string): Promise<(PublishableKeyRow & { status: string }) | undefined> {
  return db
    .selectFrom('merchant_publishable_keys as k')
    .innerJoin('merchants as m', 'm.id', 'k.merchant_id')
    .selectAll('k')
    .select('m.status')
    .where('k.publishable_key', '=', key)
    .executeTakeFirst();
}

export async function setAllowedOrigins(db: Executor, merchantId: string, origins: string, now: number): Promise<void> {
  await db.updateTable('merchant_publishable_keys').set({ allowed_origins: origins, updated_at: now }).where('merchant_id', '=', merchantId).execute();
}
