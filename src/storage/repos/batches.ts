import { CompiledQuery, sql, type Updateable } from 'kysely';
import type { Db } from '../database.ts';
import type { BatchBinsTable, BatchesTable, BatchRecordsTable } from '../schema.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

export type BatchRow = BatchesTable;
export type BatchRecordRow = BatchRecordsTable;

/** Rows per multi-row INSERT: well under both engines' bound-parameter limits. */
const INSERT_SLICE = 400;

/** A merchant's own batch by its name; another merchant's finds nothing. */
export async function findBatch(db: Executor, merchantId: string, batchId: string): Promise<BatchRow | undefined> {
  return db.selectFrom('batches').selectAll().where('merchant_id', '=', merchantId).where('batch_id', '=', batchId).executeTakeFirst();
}

/** Locks the batch row for the rest of the transaction (PostgreSQL), so chunks of one batch append one at a time. */
export async function lockBatch(db: Executor, engine: Db['engine'], id: string): Promise<BatchRow | undefined> {
  let q = db.selectFrom('batches').selectAll().where('id', '=', id);
  if (engine === 'postgres') q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Inserts a batch unless the merchant already has one of that name; returns whether this call inserted. */
export async function insertBatch(db: Executor, row: BatchRow): Promise<boolean> {
  const r = await db.insertInto('batches').values(row).onConflict((oc) => oc.columns(['merchant_id', 'batch_id']).doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function updateBatch(db: Executor, id: string, patch: Updateable<BatchesTable>): Promise<void> {
  await db.updateTable('batches').set(patch).where('id', '=', id).execute();
}

/** Adds results to a batch's counters (in the transaction that wrote them). */
export async function addBatchCounts(db: Executor, id: string, succeeded: number, failed: number): Promise<void> {
  await db
    .updateTable('batches')
    .set((eb) => ({ succeeded: eb('succeeded', '+', succeeded), failed: eb('failed', '+', failed) }))
    .where('id', '=', id)
    .execute();
}

/**
 * Marks a closed batch completed when every record has its result; true for the one caller that
 * did it. One conditional UPDATE, so concurrent writers (the last chunk, the last results) cannot
 * both miss or both claim the completion.
 */
export async function completeBatchIfDone(db: Executor, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('batches')
    .set({ status: 'COMPLETED', completed_at: now })
    .where('id', '=', id)
    .where('status', '=', 'PROCESSING')
    .where(sql<boolean>`succeeded + failed = total_records`)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function listBatchIdsByStatus(db: Executor, status: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('batches').select('id').where('status', '=', status).limit(limit).execute();
  return rows.map((r) => r.id);
}

export async function findBatchById(db: Executor, id: string): Promise<BatchRow | undefined> {
  return db.selectFrom('batches').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function listBatchBins(db: Executor, batchPk: string): Promise<BatchBinsTable[]> {
  return db.selectFrom('batch_bins').selectAll().where('batch_pk', '=', batchPk).execute();
}

export async function upsertBatchBin(db: Executor, row: BatchBinsTable): Promise<void> {
  await db
    .insertInto('batch_bins')
    .values(row)
    .onConflict((oc) => oc.columns(['batch_pk', 'bin']).doUpdateSet({ next_vtime: row.next_vtime }))
    .execute();
}

const RECORD_COLUMNS = [
  'id', 'batch_pk', 'seq', 'merchant_id', 'row_id', 'bin', 'vtime', 'status', 'card_ct', 'attempts', 'not_before',
  'lease_until', 'claimed_by', 'token_id', 'token_status', 'card_last4', 'error_code', 'message', 'done_at',
] as const satisfies readonly (keyof BatchRecordRow)[];

/** The INSERT text of `rows` records, per engine: built once per shape (so SQLite's statement cache reuses one statement). */
const insertTexts = new Map<string, string>();
function insertText(engine: Db['engine'], rows: number): string {
  const key = `${engine}:${rows}`;
  let text = insertTexts.get(key);
  if (!text) {
    let n = 0;
    const tuple = () => `(${RECORD_COLUMNS.map(() => (engine === 'postgres' ? `$${++n}` : '?')).join(', ')})`;
    text = `insert into "batch_records" (${RECORD_COLUMNS.map((c) => `"${c}"`).join(', ')}) values ${Array.from({ length: rows }, tuple).join(', ')}`;
    insertTexts.set(key, text);
  }
  return text;
}

/**
 * Inserts records; a `row_id` already in the batch violates `batch_records_row` (the caller maps it).
 * Prepared text of fixed shapes (full slices, then one row at a time), values bound positionally: a
 * 10,000-record chunk is 25 statements and no per-row query building.
 */
export async function insertRecords(db: Executor, engine: Db['engine'], rows: BatchRecordRow[]): Promise<void> {
  let i = 0;
  for (; i + INSERT_SLICE <= rows.length; i += INSERT_SLICE) {
    const params: unknown[] = [];
    for (let j = i; j < i + INSERT_SLICE; j++) for (const c of RECORD_COLUMNS) params.push(rows[j]![c]);
    await db.executeQuery(CompiledQuery.raw(insertText(engine, INSERT_SLICE), params));
  }
  for (; i < rows.length; i++) await db.executeQuery(CompiledQuery.raw(insertText(engine, 1), RECORD_COLUMNS.map((c) => rows[i]![c])));
}

/**
 * Claims up to `limit` due records of one issuer, oldest fair-queue position first, for `workerId`
 * until `leaseUntil`. `FOR UPDATE SKIP LOCKED` on PostgreSQL: processes never claim the same record.
 */
export async function claimRecords(db: Db, bin: string, limit: number, workerId: string, leaseUntil: number, now: number): Promise<BatchRecordRow[]> {
  // Up to 100 rows in one statement (see `Db.bulk`).
  const k = db.bulk;
  let due = k
    .selectFrom('batch_records')
    .select('id')
    .where('status', '=', 'PENDING')
    .where('bin', '=', bin)
    .where('not_before', '<=', now)
    .orderBy('vtime')
    .limit(limit);
  if (db.engine === 'postgres') due = due.forUpdate().skipLocked();
  return k
    .updateTable('batch_records')
    .set((eb) => ({ status: 'INFLIGHT', claimed_by: workerId, lease_until: leaseUntil, attempts: eb('attempts', '+', 1) }))
    .where('id', 'in', due)
    .returningAll()
    .execute();
}

export type RecordResult = Pick<BatchRecordRow, 'id' | 'status' | 'token_id' | 'token_status' | 'error_code' | 'message'>;

// One record's result, only while it is still in flight (and its card erased): built once (see `compiledOnce`).
const finishOne = compiledOnce(
  (db: Executor, status: string, tokenId: string | null, tokenStatus: string | null, errorCode: string | null, message: string | null, doneAt: number, id: string) =>
    db
      .updateTable('batch_records')
      .set({ status, token_id: tokenId, token_status: tokenStatus, error_code: errorCode, message, done_at: doneAt, card_ct: null, lease_until: null })
      .where('id', '=', id)
      .where('status', '=', 'INFLIGHT'),
);

/**
 * Writes records' results, each only if no one else did (the record is still in flight); erases
 * their cards. Returns the ids this call wrote. SQLite: one prepared UPDATE per record (no round
 * trip, one statement text), all in one hand-over of the connection; PostgreSQL: one UPDATE … FROM
 * (VALUES …) for all of them.
 */
export async function finishRecords(db: Executor, engine: Db['engine'], results: RecordResult[], doneAt: number): Promise<Set<string>> {
  const written = new Set<string>();
  if (results.length === 0) return written;
  if (engine === 'sqlite') {
    const outs = await finishOne.each(
      engine,
      db,
      results.map((r) => [r.status, r.token_id, r.token_status, r.error_code, r.message, doneAt, r.id]),
    );
    results.forEach((r, i) => {
      if (Number(outs[i]!.numAffectedRows ?? 0) > 0) written.add(r.id);
    });
    return written;
  }
  // A record twice in one call keeps its first result (as the per-record path does).
  const once = [...new Map(results.toReversed().map((r) => [r.id, r])).values()];
  const values = sql.join(once.map((r) => sql`(${r.id}, ${r.status}, ${r.token_id}, ${r.token_status}, ${r.error_code}, ${r.message})`));
  const rows = await sql<{ id: string }>`update batch_records as b set status = v.status, token_id = v.token_id, token_status = v.token_status,
      error_code = v.error_code, message = v.message, done_at = ${doneAt}, card_ct = null, lease_until = null
    from (values ${values}) as v (id, status, token_id, token_status, error_code, message)
    where b.id = v.id and b.status = 'INFLIGHT' returning b.id`.execute(db);
  for (const r of rows.rows) written.add(r.id);
  return written;
}

/** Puts a claimed record back in its queue (a 429 or a transient fault), to run no sooner than `notBefore`. */
export async function releaseRecord(db: Executor, id: string, notBefore: number): Promise<void> {
  await db
    .updateTable('batch_records')
    .set({ status: 'PENDING', lease_until: null, not_before: notBefore })
    .where('id', '=', id)
    .where('status', '=', 'INFLIGHT')
    .execute();
}

/** Records whose process died while holding them go back to their queue (same id: the TSP de-duplicates). */
export async function recoverExpiredRecords(db: Executor, now: number): Promise<number> {
  const r = await db
    .updateTable('batch_records')
    .set({ status: 'PENDING', lease_until: null, claimed_by: null })
    .where('status', '=', 'INFLIGHT')
    .where('lease_until', '<', now)
    .executeTakeFirst();
  return Number(r.numUpdatedRows);
}

/** Records after `afterSeq`, in batch order (finished or not: the caller stops at the first unfinished one). */
export async function listResults(db: Executor, batchPk: string, afterSeq: number, limit: number): Promise<BatchRecordRow[]> {
  return db.selectFrom('batch_records').selectAll().where('batch_pk', '=', batchPk).where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}
