import type { DataKeysTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type DataKeyRow = DataKeysTable;

export async function insertDataKey(db: Executor, row: DataKeyRow): Promise<void> {
  await db.insertInto('data_keys').values(row).execute();
}

/** The active key of a tenant for a purpose (the newest active version). */
export async function findActiveDataKey(db: Executor, tenantId: string, purpose: string): Promise<DataKeyRow | undefined> {
  return db
    .selectFrom('data_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('purpose', '=', purpose)
    .where('status', '=', 'active')
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** Crypto-shredding: destroys every data and fingerprint key of a tenant. Returns how many. */
export async function deleteTenantDataKeys(db: Executor, tenantId: string): Promise<number> {
  const r = await db.deleteFrom('data_keys').where('tenant_id', '=', tenantId).executeTakeFirst();
  return Number(r.numDeletedRows);
}

export async function findDataKey(
  db: Executor,
  tenantId: string,
  purpose: string,
  version: number,
): Promise<DataKeyRow | undefined> {
  return db
    .selectFrom('data_keys')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('purpose', '=', purpose)
    .where('version', '=', version)
    .executeTakeFirst();
}
