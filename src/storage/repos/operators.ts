import type { OperatorSessionsTable, OperatorsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type OperatorRow = OperatorsTable;
export type OperatorSessionRow = OperatorSessionsTable;

/** Inserts an operator; false when the email is taken. */
export async function insertOperator(db: Executor, row: OperatorRow): Promise<boolean> {
  const r = await db.insertInto('operators').values(row).onConflict((oc) => oc.column('email').doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function findOperatorByEmail(db: Executor, email: string): Promise<OperatorRow | undefined> {
  return db.selectFrom('operators').selectAll().where('email', '=', email).executeTakeFirst();
}

export async function insertOperatorSession(db: Executor, row: OperatorSessionRow): Promise<void> {
  await db.insertInto('operator_sessions').values(row).execute();
}

/** A live session of an active operator, with the operator's email. */
export async function findLiveSession(db: Executor, idHash: string, now: number): Promise<{ operator_id: string; email: string; expires_at: number } | undefined> {
  return db
    .selectFrom('operator_sessions as s')
    .innerJoin('operators as o', 'o.id', 's.operator_id')
    .select(['s.operator_id', 'o.email', 's.expires_at'])
    .where('s.id_hash', '=', idHash)
    .where('s.expires_at', '>', now)
    .where('o.status', '=', 'active')
    .executeTakeFirst();
}

export async function deleteOperatorSession(db: Executor, idHash: string): Promise<void> {
  await db.deleteFrom('operator_sessions').where('id_hash', '=', idHash).execute();
}

export async function purgeExpiredSessions(db: Executor, now: number): Promise<number> {
  const r = await db.deleteFrom('operator_sessions').where('expires_at', '<=', now).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** Disables an operator and ends their sessions; false when no such operator. */
export async function disableOperator(db: Executor, email: string): Promise<boolean> {
  const op = await findOperatorByEmail(db, email);
  if (!op) return false;
  await db.updateTable('operators').set({ status: 'disabled' }).where('id', '=', op.id).execute();
  await db.deleteFrom('operator_sessions').where('operator_id', '=', op.id).execute();
  return true;
}
