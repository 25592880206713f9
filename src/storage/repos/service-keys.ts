import type { ServiceKeysTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type ServiceKeyRow = ServiceKeysTable;

/** Inserts a key unless its generation exists (two processes starting at once create one key). */
export async function insertServiceKey(db: Executor, row: ServiceKeyRow): Promise<boolean> {
  const result = await db
    .insertInto('service_keys')
    .values(row)
    .onConflict((oc) => oc.columns(['purpose', 'generation']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Keys that still decrypt (active and decrypt-only), newest first. */
export async function listUsableServiceKeys(db: Executor, purpose: string): Promise<ServiceKeyRow[]> {
  return db
    .selectFrom('service_keys')
    .selectAll()
    .where('purpose', '=', purpose)
    .where('status', '!=', 'retired')
    .orderBy('generation', 'desc')
    .execute();
}

export async function latestServiceKeyGeneration(db: Executor, purpose: string): Promise<number> {
  const row = await db
    .selectFrom('service_keys')
    .select((eb) => eb.fn.max('generation').as('g'))
    .where('purpose', '=', purpose)
    .executeTakeFirst();
  return Number(row?.g ?? 0);
}

/** Older active keys become decrypt-only once a newer generation is active. */
export async function demoteServiceKeys(db: Executor, purpose: string, belowGeneration: number): Promise<void> {
  await db
    .updateTable('service_keys')
    .set({ status: 'decrypt_only' })
    .where('purpose', '=', purpose)
    .where('status', '=', 'active')
    .where('generation', '<', belowGeneration)
    .execute();
}

/** Retires a decrypt-only key: its private key is erased and it decrypts nothing any more. */
export async function retireServiceKey(db: Executor, kid: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('service_keys')
    .set({ status: 'retired', private_ct: '', retired_at: now })
    .where('kid', '=', kid)
    .where('status', '=', 'decrypt_only')
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/** Starts the grace period of keys just made decrypt-only (those without one yet). */
export async function setServiceKeyGrace(db: Executor, purpose: string, retireAfter: number): Promise<void> {
  await db
    .updateTable('service_keys')
    .set({ retire_after: retireAfter })
    .where('purpose', '=', purpose)
    .where('status', '=', 'decrypt_only')
    .where('retire_after', 'is', null)
    .execute();
}

/** Decrypt-only keys whose grace period is over. */
export async function listExpiredServiceKeys(db: Executor, purpose: string, now: number): Promise<string[]> {
  const rows = await db
    .selectFrom('service_keys')
    .select('kid')
    .where('purpose', '=', purpose)
    .where('status', '=', 'decrypt_only')
    .where('retire_after', '<=', now)
    .execute();
  return rows.map((r) => r.kid);
}
