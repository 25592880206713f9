import type { DeliveriesTable, DeliveryAttemptsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type DeliveryRow = DeliveriesTable;
export type DeliveryAttemptRow = DeliveryAttemptsTable;

export async function insertDelivery(db: Executor, row: DeliveryRow): Promise<void> {
  await db.insertInto('deliveries').values(row).execute();
}

export async function findDelivery(db: Executor, id: string): Promise<DeliveryRow | undefined> {
  return db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Records one attempt and the delivery's state after it. */
export async function recordDeliveryAttempt(
  db: Executor,
  attempt: DeliveryAttemptRow,
  state: { status: string; attempts: number; next_attempt_at: number | null; last_status: number | null; last_error: string | null; completed_at: number | null },
): Promise<void> {
  await db.insertInto('delivery_attempts').values(attempt).onConflict((oc) => oc.columns(['delivery_id', 'attempt']).doNothing()).execute();
  await db.updateTable('deliveries').set(state).where('id', '=', attempt.delivery_id).execute();
}

export async function listDeliveries(db: Executor, merchantId: string): Promise<DeliveryRow[]> {
  return db.selectFrom('deliveries').selectAll().where('merchant_id', '=', merchantId).orderBy('created_at').orderBy('id').execute();
}

export async function listDeliveryAttempts(db: Executor, deliveryId: string): Promise<DeliveryAttemptRow[]> {
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', '=', deliveryId).orderBy('attempt').execute();
}
