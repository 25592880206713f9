import type { Updateable } from 'kysely';
import type { SandboxAuthorizationsTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledInsert } from './compiled.ts';
import type { Executor } from './executor.ts';

export type SandboxAuthorizationRow = SandboxAuthorizationsTable;

// One per payment (the sandbox's sale): built once (see `compiledInsert`).
const insertQuery = compiledInsert<SandboxAuthorizationRow>(
  { id: 1, merchant_id: 1, reference: 1, card_fingerprint: 1, amount: 1, currency: 1, captured_amount: 1, status: 1, decline_reason: 1, created_at: 1, updated_at: 1 },
  (db, row) => db.insertInto('sandbox_authorizations').values(row).onConflict((oc) => oc.columns(['merchant_id', 'reference']).doNothing()),
);

/** Inserts unless the reference is taken; returns whether this call inserted. */
export async function insertSandboxAuthorization(engine: Engine, db: Executor, row: SandboxAuthorizationRow): Promise<boolean> {
  const r = await insertQuery(engine, db, row);
  return Number(r.numAffectedRows ?? 0) > 0;
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
