import type { IssuerKeysTable, IssuersTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type IssuerRow = IssuersTable;
export type IssuerKeyRow = IssuerKeysTable;

export async function insertIssuer(db: Executor, row: IssuerRow): Promise<void> {
  await db.insertInto('issuers').values(row).execute();
}

export async function findIssuer(db: Executor, id: string): Promise<IssuerRow | undefined> {
  return db.selectFrom('issuers').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Adds a key; false when the issuer already has this kid. */
export async function insertIssuerKey(db: Executor, row: IssuerKeyRow): Promise<boolean> {
  const r = await db
    .insertInto('issuer_keys')
    .values(row)
    .onConflict((oc) => oc.columns(['issuer_id', 'kid']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findIssuerKey(db: Executor, issuerId: string, kid: string): Promise<IssuerKeyRow | undefined> {
  return db
    .selectFrom('issuer_keys')
    .selectAll()
    .where('issuer_id', '=', issuerId)
    .where('kid', '=', kid)
    .where('status', '=', 'active')
    .executeTakeFirst();
}

/** Active keys of one use, newest first. */
export async function listIssuerKeys(db: Executor, issuerId: string, use: string): Promise<IssuerKeyRow[]> {
  return db
    .selectFrom('issuer_keys')
    .selectAll()
    .where('issuer_id', '=', issuerId)
    .where('use', '=', use)
    .where('status', '=', 'active')
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
}

export async function retireIssuerKey(db: Executor, issuerId: string, kid: string): Promise<boolean> {
  const r = await db.updateTable('issuer_keys').set({ status: 'retired' }).where('issuer_id', '=', issuerId).where('kid', '=', kid).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Records an assertion's `jti`; false when it was used before (a replay). Drops expired ones first. */
export async function useAssertionId(db: Executor, issuerId: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
  await db.deleteFrom('issuer_assertions').where('expires_at', '<', now).execute();
  const r = await db
    .insertInto('issuer_assertions')
    .values({ issuer_id: issuerId, jti, expires_at: expiresAt })
    .onConflict((oc) => oc.columns(['issuer_id', 'jti']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}
