import { sql } from 'kysely';
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

/** Inserts unless that tenant/purpose/version exists (two processes racing). Returns whether it inserted. */
export async function insertDataKeyIfAbsent(db: Executor, row: DataKeyRow): Promise<boolean> {
  const r = await db
    .insertInto('data_keys')
    .values(row)
    .onConflict((oc) => oc.columns(['tenant_id', 'purpose', 'version']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** After a data rotation: older versions still decrypt but encrypt nothing new (`retiring`). */
export async function retireOlderDataKeys(db: Executor, tenantId: string, purpose: string, belowVersion: number): Promise<void> {
  await db
    .updateTable('data_keys')
    .set({ status: 'retiring' })
    .where('tenant_id', '=', tenantId)
    .where('purpose', '=', purpose)
    .where('version', '<', belowVersion)
    .where('status', '=', 'active')
    .execute();
}

/** Data keys (every tenant and purpose) wrapped by another master-key version than `kekId`. */
export async function listDataKeysNotWrappedBy(db: Executor, kekId: string, limit: number): Promise<DataKeyRow[]> {
  return db
    .selectFrom('data_keys')
    .selectAll()
    .where('kek_id', '!=', kekId)
    .orderBy('tenant_id')
    .orderBy('purpose')
    .orderBy('version')
    .limit(limit)
    .execute();
}

/**
 * Replaces many keys' wrappings in one statement (`UPDATE … FROM (VALUES …)`, VALUES columns are
 * `column1…` on both engines), each only if the row still holds the wrapping that was read.
 */
export async function rewrapDataKeys(db: Executor, rewraps: { row: DataKeyRow; kekId: string; wrapped: string }[]): Promise<number> {
  if (rewraps.length === 0) return 0;
  const tuples = rewraps.map(
    (w) => sql`(${w.row.tenant_id}, ${w.row.purpose}, cast(${w.row.version} as integer), ${w.row.wrapped_key}, ${w.kekId}, ${w.wrapped})`,
  );
  const r = await sql`update data_keys set kek_id = v.column5, wrapped_key = v.column6 from (values ${sql.join(tuples)}) as v
    where data_keys.tenant_id = v.column1 and data_keys.purpose = v.column2 and data_keys.version = v.column3 and data_keys.wrapped_key = v.column4`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** How many data keys each master-key version (by key-check id) wraps. */
export async function countDataKeysByKek(db: Executor): Promise<{ kek_id: string; count: number }[]> {
  const rows = await db
    .selectFrom('data_keys')
    .select(['kek_id', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
    .groupBy('kek_id')
    .execute();
  return rows.map((r) => ({ kek_id: r.kek_id, count: Number(r.n) }));
}

/** Data-key versions by status (`active`, `retiring`), for `tessera keys status`. */
export async function countDataKeysByStatus(db: Executor): Promise<{ purpose: string; status: string; count: number }[]> {
  const rows = await db
    .selectFrom('data_keys')
    .select(['purpose', 'status', (eb) => eb.fn.countAll<number | string | bigint>().as('n')])
    .groupBy(['purpose', 'status'])
    .execute();
  return rows.map((r) => ({ purpose: r.purpose, status: r.status, count: Number(r.n) }));
}

/** Tenants with a data key (merchants and issuers alike), except Tessera's own root. */
export async function listDataTenants(db: Executor, systemTenant: string): Promise<string[]> {
  const rows = await db
    .selectFrom('data_keys')
    .select('tenant_id')
    .where('purpose', '=', 'data')
    .where('status', '=', 'active')
    .where('tenant_id', '!=', systemTenant)
    .orderBy('tenant_id')
    .execute();
  return rows.map((r) => r.tenant_id);
}

/** Retiring data-key versions of one tenant. */
export async function listRetiringDataKeys(db: Executor, tenantId: string): Promise<number[]> {
  const rows = await db
    .selectFrom('data_keys')
    .select('version')
    .where('tenant_id', '=', tenantId)
    .where('purpose', '=', 'data')
    .where('status', '=', 'retiring')
    .execute();
  return rows.map((r) => r.version);
}

export async function deleteDataKey(db: Executor, tenantId: string, purpose: string, version: number): Promise<void> {
  await db.deleteFrom('data_keys').where('tenant_id', '=', tenantId).where('purpose', '=', purpose).where('version', '=', version).execute();
}

/** Each tenant's active data-key version (the newest active one, as `findActiveDataKey` picks). */
export async function listActiveDataVersions(db: Executor): Promise<Map<string, number>> {
  const rows = await db
    .selectFrom('data_keys')
    .select(['tenant_id', (eb) => eb.fn.max('version').as('version')])
    .where('purpose', '=', 'data')
    .where('status', '=', 'active')
    .groupBy('tenant_id')
    .execute();
  return new Map(rows.map((r) => [r.tenant_id, Number(r.version)]));
}

/** Every retiring data-key version, by tenant. */
export async function listAllRetiringDataKeys(db: Executor): Promise<{ tenant_id: string; version: number }[]> {
  return db.selectFrom('data_keys').select(['tenant_id', 'version']).where('purpose', '=', 'data').where('status', '=', 'retiring').execute();
}
