import type { MerchantsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type MerchantRow = MerchantsTable;

export async function insertMerchant(db: Executor, row: MerchantRow): Promise<void> {
  await db.insertInto('merchants').values(row).execute();
}

export async function findMerchant(db: Executor, id: string): Promise<MerchantRow | undefined> {
  return db.selectFrom('merchants').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findMerchantByPublicKey(db: Executor, publicKey: string): Promise<MerchantRow | undefined> {
  return db.selectFrom('merchants').selectAll().where('public_key', '=', publicKey).executeTakeFirst();
}

export async function findMerchantByPrivateKeyHash(db: Executor, hash: string): Promise<MerchantRow | undefined> {
  return db.selectFrom('merchants').selectAll().where('private_key_hash', '=', hash).executeTakeFirst();
}

export async function setMerchantStatus(db: Executor, id: string, status: string): Promise<boolean> {
  const r = await db.updateTable('merchants').set({ status }).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function listMerchants(db: Executor): Promise<MerchantRow[]> {
  return db.selectFrom('merchants').selectAll().orderBy('created_at').execute();
}

export async function updateMerchant(
  db: Executor,
  id: string,
  patch: { notification_url?: string | null; jwks?: string | null },
): Promise<void> {
  await db.updateTable('merchants').set(patch).where('id', '=', id).execute();
}
