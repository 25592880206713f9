import type { Updateable } from 'kysely';
import type { IssuerBatchesTable, IssuerBatchRecordsTable } from '../schema.ts';
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

/** The next records without a result, in file order. */
export async function pendingBatchRecords(db: Executor, k: Key, limit: number): Promise<IssuerBatchRecordRow[]> {
  return db
    .selectFrom('issuer_batch_records')
    .selectAll()
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .where('result', 'is', null)
    .orderBy('idx')
    .limit(limit)
    .execute();
}

/** Stores a record's result and erases its request (it held card data, encrypted). */
export async function completeBatchRecord(db: Executor, k: Key, idx: number, result: string): Promise<void> {
  await db
    .updateTable('issuer_batch_records')
    .set({ result, request_ct: null })
    .where('issuer_id', '=', k.issuerId)
    .where('batch_id', '=', k.batchId)
    .where('seq_number', '=', k.seqNumber)
    .where('idx', '=', idx)
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
