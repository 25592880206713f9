import type { Updateable } from 'kysely';
import type { SandboxAuthorizationsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type SandboxAuthorizationRow = SandboxAuthorizationsTable;

/** Inserts unless the reference is taken; returns whether this call inserted. */
export async function insertSandboxAuthorization(db: Executor, row: SandboxAuthorizationRow): Promise<boolean> {
  const result = await db
    .insertInto('sandbox_authorizations')
    .values(row)
    .onConflict((oc) => oc.columns(['merchant_id', 'reference']).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findSandboxAuthorization(db: Executor, id: string): Promise<SandboxAuthorizationRow | undefined> {
  return db.selectFrom('sandbox_authorizations').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findSandboxAuthorizationByReference(
  db: Executor,
  merchantId: string,
  reference: string,
): Promise<SandboxAuthorizationRow | undefined> {
  return db
    .selectFrom('sandbox_authorizations')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('reference', '=', reference)
    .executeTakeFirst();
}

export async function updateSandboxAuthorization(
  db: Executor,
  id: string,
  patch: Updateable<SandboxAuthorizationsTable>,
): Promise<void> {
  await db.updateTable('sandbox_authorizations').set(patch).where('id', '=', id).execute();
}
