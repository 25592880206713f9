import { sql } from 'kysely';
import type { Updateable } from 'kysely';
import type { IssuerCardsTable, IssuerConsumersTable, IssuerOperationsTable, IssuerTokensTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type IssuerConsumerRow = IssuerConsumersTable;
export type IssuerCardRow = IssuerCardsTable;
export type IssuerTokenRow = IssuerTokensTable;
export type IssuerOperationRow = IssuerOperationsTable;

/** Creates or replaces a consumer's personal information; true when it was created. */
export async function upsertConsumer(db: Executor, row: IssuerConsumerRow): Promise<boolean> {
  const existing = await findConsumer(db, row.issuer_id, row.id);
  if (existing) {
    await db
      .updateTable('issuer_consumers')
      .set({ personal_ct: row.personal_ct, has_email: row.has_email, has_phone: row.has_phone, updated_at: row.updated_at })
      .where('issuer_id', '=', row.issuer_id)
      .where('id', '=', row.id)
      .execute();
    return false;
  }
  await db.insertInto('issuer_consumers').values(row).execute();
  return true;
}

export async function findConsumer(db: Executor, issuerId: string, id: string): Promise<IssuerConsumerRow | undefined> {
  return db.selectFrom('issuer_consumers').selectAll().where('issuer_id', '=', issuerId).where('id', '=', id).executeTakeFirst();
}

/** Marks the consumer's Click to Pay profile as created (once; later calls keep the first time). */
export async function createC2pProfile(db: Executor, issuerId: string, id: string, now: number): Promise<void> {
  await db
    .updateTable('issuer_consumers')
    .set({ c2p_profile_at: now })
    .where('issuer_id', '=', issuerId)
    .where('id', '=', id)
    .where('c2p_profile_at', 'is', null)
    .execute();
}

/** Creates or replaces a card; true when it was created. Its Click to Pay status is kept for the same card number. */
export async function upsertCard(db: Executor, row: IssuerCardRow): Promise<boolean> {
  const existing = await findCard(db, row.issuer_id, row.id);
  if (existing) {
    const sameCard = existing.fingerprint === row.fingerprint;
    await db
      .updateTable('issuer_cards')
      .set({
        consumer_id: row.consumer_id,
        card_ct: row.card_ct,
        fingerprint: row.fingerprint,
        network: row.network,
        bin: row.bin,
        last4: row.last4,
        expiry: row.expiry,
        c2p_status: sameCard ? existing.c2p_status : null,
        updated_at: row.updated_at,
      })
      .where('issuer_id', '=', row.issuer_id)
      .where('id', '=', row.id)
      .execute();
    return false;
  }
  await db.insertInto('issuer_cards').values(row).execute();
  return true;
}

export async function findCard(db: Executor, issuerId: string, id: string): Promise<IssuerCardRow | undefined> {
  return db.selectFrom('issuer_cards').selectAll().where('issuer_id', '=', issuerId).where('id', '=', id).executeTakeFirst();
}

export async function setCardC2pStatus(db: Executor, issuerId: string, id: string, status: string, now: number): Promise<void> {
  await db.updateTable('issuer_cards').set({ c2p_status: status, updated_at: now }).where('issuer_id', '=', issuerId).where('id', '=', id).execute();
}

/** Inserts a token unless its id exists (the TSP handed back one it had issued). */
export async function insertIssuerToken(db: Executor, row: IssuerTokenRow): Promise<boolean> {
  const r = await db.insertInto('issuer_tokens').values(row).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** The issuer's own token; another issuer's id finds nothing. */
export async function findIssuerToken(db: Executor, issuerId: string, id: string): Promise<IssuerTokenRow | undefined> {
  return db.selectFrom('issuer_tokens').selectAll().where('issuer_id', '=', issuerId).where('id', '=', id).executeTakeFirst();
}

export async function findIssuerTokenById(db: Executor, id: string): Promise<IssuerTokenRow | undefined> {
  return db.selectFrom('issuer_tokens').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listCardTokens(db: Executor, issuerId: string, cardId: string): Promise<IssuerTokenRow[]> {
  return db
    .selectFrom('issuer_tokens')
    .selectAll()
    .where('issuer_id', '=', issuerId)
    .where('card_id', '=', cardId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

export async function updateIssuerToken(db: Executor, id: string, patch: Updateable<IssuerTokensTable>): Promise<void> {
  await db.updateTable('issuer_tokens').set(patch).where('id', '=', id).execute();
}

export async function insertOperation(db: Executor, row: IssuerOperationRow): Promise<void> {
  await db.insertInto('issuer_operations').values(row).execute();
}

/** Inserts a live operation unless the card already has one of that kind; returns whether it did. */
export async function insertLiveOperation(db: Executor, row: IssuerOperationRow): Promise<boolean> {
  const result = await db
    .insertInto('issuer_operations')
    .values(row)
    // The predicate must be literal for SQLite to match it with the partial unique index.
    .onConflict((oc) => oc.columns(['issuer_id', 'card_id', 'operation']).where('status', '<>', sql.lit('FAILED')).doNothing())
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findOperation(db: Executor, issuerId: string, cardId: string, id: string): Promise<IssuerOperationRow | undefined> {
  return db
    .selectFrom('issuer_operations')
    .selectAll()
    .where('issuer_id', '=', issuerId)
    .where('card_id', '=', cardId)
    .where('id', '=', id)
    .executeTakeFirst();
}

export async function findOperationById(db: Executor, id: string): Promise<IssuerOperationRow | undefined> {
  return db.selectFrom('issuer_operations').selectAll().where('id', '=', id).executeTakeFirst();
}

/** A card's operations of one kind, newest first. */
export async function listOperations(db: Executor, issuerId: string, cardId: string, operation?: string): Promise<IssuerOperationRow[]> {
  let q = db.selectFrom('issuer_operations').selectAll().where('issuer_id', '=', issuerId).where('card_id', '=', cardId);
  if (operation) q = q.where('operation', '=', operation);
  return q.orderBy('start_time', 'desc').orderBy('id').execute();
}

/** Ends a pending operation; false when it had already ended (another worker got there first). */
export async function completeOperation(db: Executor, id: string, patch: { status: string; error_code: string | null; end_time: number }): Promise<boolean> {
  const r = await db.updateTable('issuer_operations').set(patch).where('id', '=', id).where('status', '=', 'PENDING').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
