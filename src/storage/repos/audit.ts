import type { AuditHeadTable, AuditLogTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type AuditRow = AuditLogTable;
export type AuditHead = AuditHeadTable;

/**
 * The chain head, locked for the rest of the transaction on PostgreSQL (`FOR UPDATE`), so appends
 * from every process take turns. SQLite has one writer at a time already.
 */
export async function lockAuditHead(trx: Executor, forUpdate: boolean): Promise<AuditHead> {
  let q = trx.selectFrom('audit_head').selectAll().where('id', '=', 1);
  if (forUpdate) q = q.forUpdate();
  const head = await q.executeTakeFirst();
  if (!head) throw new Error('audit chain head is missing');
  return head;
}

/** Appends rows that continue the chain (in order) and moves the head to the last one. */
export async function appendAuditRows(trx: Executor, rows: AuditRow[]): Promise<void> {
  const last = rows[rows.length - 1];
  if (!last) return;
  for (let i = 0; i < rows.length; i += 500) await trx.insertInto('audit_log').values(rows.slice(i, i + 500)).execute();
  await trx.updateTable('audit_head').set({ seq: last.seq, hash: last.hash }).where('id', '=', 1).execute();
}

export async function readAuditHead(db: Executor): Promise<AuditHead | undefined> {
  return db.selectFrom('audit_head').selectAll().where('id', '=', 1).executeTakeFirst();
}

/** The whole chain in `seq` order, a page at a time (for verification). */
export async function auditPage(db: Executor, afterSeq: number, limit: number): Promise<AuditRow[]> {
  return db.selectFrom('audit_log').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
}

/** One tenant's records, newest first, keyset-paginated on `seq`. */
export async function listTenantAudit(db: Executor, tenantId: string, limit: number, beforeSeq?: number): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_log').selectAll().where('tenant_id', '=', tenantId);
  if (beforeSeq !== undefined) q = q.where('seq', '<', beforeSeq);
  return q.orderBy('seq', 'desc').limit(limit).execute();
}
