import type { Updateable } from 'kysely';
import type { IssuerBatchesTable, IssuerBatchRecordsTable, IssuerCardsTable, IssuerConsumersTable, IssuerTokensTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type IssuerBatchRow = IssuerBatchesTable;
export type IssuerBatchRecordRow = IssuerBatchRecordsTable;

type Key = { issuerId: string; batchId: string; seqNumber: number };

/** Inserts a batch; false when this issuer already has this batchId + seqNumber. */
export async function insertBatch(db: Executor, row: IssuerBatchRow): Promise<boolean> {
  const r = await db
    .insertInto('issuer_batches')
    .values(row)
    .onConflict((oc) => oc.columns(['issuer_id', 'batch_id', 'seq_number']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** One batch, or (no seqNumber) the batchId's highest seqNumber. */
export async function findBatch(db: Executor, issuerId: string, batchId: string, seqNumber?: number): Promise<IssuerBatchRow | undefined> {
  let q = db.selectFrom('issuer_batches').selectAll().where('issuer_id', '=', issuerId).where('batch_id', '=', batchId);
  if (seqNumber !== undefined) q = q.where('seq_number', '=', seqNumber);
  return q.orderBy('seq_number', 'desc').limit(1).executeTakeFirst();
}

export async function updateBatch(db: Executor, k: Key, patch: Updateable<IssuerBatchesTable>): Promise<void> {
  await db.updateTable('issuer_batches').set(patch).where('issuer_id', '=', k.issuerId).where('batch_id', '=', k.batchId).where('seq_number', '=', k.seqNumber).execute();
}

/** Adds processed and KO counts to a batch's progress. */
export async function addBatchProgress(db: Executor, k: Key, processed: number, ko: number): Promise<void> {
  await db
    .updateTable('issuer_batches')
    .set((eb) => ({ processed_records: eb('processed_records', '+', processed), ko_records: eb('ko_records', '+', ko) }))
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .execute();
}

export async function insertBatchRecords(db: Executor, rows: IssuerBatchRecordRow[]): Promise<void> {
  // Bound the statement's parameter count (SQLite allows 32766; PostgreSQL 65535).
  for (let i = 0; i < rows.length; i += 500) await db.insertInto('issuer_batch_records').values(rows.slice(i, i + 500)).execute();
}

/**
 * The next records without a result after `afterIdx`, in file order. Without a lower bound the scan
 * walks every record already done (the primary key orders by idx; `result` is not indexed): a
 * 100,000-record file read ~25 million rows that way, O(n²).
 */
export async function pendingBatchRecords(db: Executor, k: Key, limit: number, afterIdx = -1): Promise<IssuerBatchRecordRow[]> {
  return db
    .selectFrom('issuer_batch_records')
    .selectAll()
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .where('idx', '>', afterIdx)
    .where('result', 'is', null)
    .orderBy('idx')
    .limit(limit)
    .execute();
}

/** Results in file order, one page after `afterIdx`. */
export async function batchResults(db: Executor, k: Key, afterIdx: number, limit: number): Promise<{ idx: number; result: string | null }[]> {
  return db
    .selectFrom('issuer_batch_records')
    .select(['idx', 'result'])
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .where('idx', '>', afterIdx)
    .orderBy('idx')
    .limit(limit)
    .execute();
}

/** Existing cards of an issuer among `ids` (their Click to Pay state decides re-enrolment). */
export async function findCards(db: Executor, issuerId: string, ids: string[]): Promise<{ id: string; fingerprint: string; c2p_status: string | null }[]> {
  if (ids.length === 0) return [];
  return db.selectFrom('issuer_cards').select(['id', 'fingerprint', 'c2p_status']).where('issuer_id', '=', issuerId).where('id', 'in', ids).execute();
}

// Bulk writes of one processed chunk: a handful of statements per chunk instead of several per record.
// Rows must be unique by key within a call (PostgreSQL refuses to update one row twice in a statement).

export async function upsertConsumers(db: Executor, rows: IssuerConsumersTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('issuer_consumers')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) =>
        oc.columns(['issuer_id', 'id']).doUpdateSet((eb) => ({
          personal_ct: eb.ref('excluded.personal_ct'),
          has_email: eb.ref('excluded.has_email'),
          has_phone: eb.ref('excluded.has_phone'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

export async function upsertCards(db: Executor, rows: IssuerCardsTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('issuer_cards')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) =>
        oc.columns(['issuer_id', 'id']).doUpdateSet((eb) => ({
          consumer_id: eb.ref('excluded.consumer_id'),
          card_ct: eb.ref('excluded.card_ct'),
          fingerprint: eb.ref('excluded.fingerprint'),
          network: eb.ref('excluded.network'),
          bin: eb.ref('excluded.bin'),
          last4: eb.ref('excluded.last4'),
          expiry: eb.ref('excluded.expiry'),
          c2p_status: eb.ref('excluded.c2p_status'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute();
  }
}

export async function insertTokens(db: Executor, rows: IssuerTokensTable[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    await db.insertInto('issuer_tokens').values(rows.slice(i, i + 500)).onConflict((oc) => oc.column('id').doNothing()).execute();
  }
}

/** Creates the Click to Pay profile of consumers that have none yet. */
export async function createC2pProfiles(db: Executor, issuerId: string, consumerIds: string[], now: number): Promise<void> {
  for (let i = 0; i < consumerIds.length; i += 500) {
    await db
      .updateTable('issuer_consumers')
      .set({ c2p_profile_at: now })
      .where('issuer_id', '=', issuerId)
      .where('id', 'in', consumerIds.slice(i, i + 500))
      .where('c2p_profile_at', 'is', null)
      .execute();
  }
}

/** Stores records' results and erases their requests, in one statement per 500. */
export async function saveBatchResults(db: Executor, k: Key, results: { idx: number; result: string }[]): Promise<void> {
  const rows = results.map((r) => ({ issuer_id: k.issuerId, batch_id: k.batchId, seq_number: k.seqNumber, idx: r.idx, request_ct: null, result: r.result }));
  for (let i = 0; i < rows.length; i += 500) {
    await db
      .insertInto('issuer_batch_records')
      .values(rows.slice(i, i + 500))
      .onConflict((oc) => oc.columns(['issuer_id', 'batch_id', 'seq_number', 'idx']).doUpdateSet((eb) => ({ result: eb.ref('excluded.result'), request_ct: null })))
      .execute();
  }
}

/** Drops a batch whose intake never finished (its process died) before `olderThan`; true if one was dropped. */
export async function dropStaleIntake(db: Executor, k: Key, olderThan: number): Promise<boolean> {
  const r = await db
    .deleteFrom('issuer_batches')
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .where('status', '=', 'RECEIVING')
    .where('created_at', '<', olderThan)
    .executeTakeFirst();
  if (Number(r.numDeletedRows) === 0) return false;
  await db.deleteFrom('issuer_batch_records').where('issuer_id', '=', k.issuerId).where('batch_id', '=', k.batchId).where('seq_number', '=', k.seqNumber).execute();
  return true;
}
