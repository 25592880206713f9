import type { Updateable } from 'kysely';
import type { OrderRefundsTable, OrdersTable } from '../schema.ts';
import type { Db } from '../database.ts';
import type { Executor } from './executor.ts';

export type OrderRow = OrdersTable;
export type OrderRefundRow = OrderRefundsTable;

export async function insertOrder(db: Executor, row: OrderRow): Promise<void> {
  await db.insertInto('orders').values(row).execute();
}

/** A merchant's own order; another merchant's id finds nothing. */
export async function findOrder(db: Executor, merchantId: string, id: string): Promise<OrderRow | undefined> {
  return db.selectFrom('orders').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
}

/** The order a merchant created under an `Idempotency-Key`, if any. */
export async function findOrderByIdempotencyKey(db: Executor, merchantId: string, key: string): Promise<OrderRow | undefined> {
  return db.selectFrom('orders').selectAll().where('merchant_id', '=', merchantId).where('idempotency_key', '=', key).executeTakeFirst();
}

export async function findOrderById(db: Executor, id: string): Promise<OrderRow | undefined> {
  return db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * The order, locked for the rest of the transaction on PostgreSQL (`FOR UPDATE`), so concurrent
 * refunds of one order queue behind each other. SQLite has one writer at a time already.
 */
export async function lockOrder(db: Db, trx: Executor, merchantId: string, id: string): Promise<OrderRow | undefined> {
  let q = trx.selectFrom('orders').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id);
  if (db.engine === 'postgres') q = q.forUpdate();
  return q.executeTakeFirst();
}

export async function updateOrder(db: Executor, id: string, patch: Updateable<OrdersTable>): Promise<void> {
  await db.updateTable('orders').set(patch).where('id', '=', id).execute();
}

/** Settles a payment once: only an order whose payment is still `pending` changes. */
export async function settleOrderPayment(db: Executor, id: string, patch: Updateable<OrdersTable>): Promise<boolean> {
  const r = await db.updateTable('orders').set(patch).where('id', '=', id).where('payment_status', '=', 'pending').executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/**
 * Starts a payment of an unpaid order: only an order still `created` with no payment in flight
 * changes (a conditional update, so two concurrent payments cannot both start, on either engine).
 */
export async function startOrderPayment(db: Executor, merchantId: string, id: string, patch: Updateable<OrdersTable>): Promise<boolean> {
  const r = await db
    .updateTable('orders')
    .set(patch)
    .where('merchant_id', '=', merchantId)
    .where('id', '=', id)
    .where('status', '=', 'created')
    .where((eb) => eb.or([eb('payment_status', 'is', null), eb('payment_status', '<>', 'pending')]))
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

/** Newest first, keyset-paginated on (created_at, id). */
export async function listOrders(
  db: Executor,
  merchantId: string,
  opts: { status?: string | undefined; limit: number; before?: { createdAt: number; id: string } | undefined },
): Promise<OrderRow[]> {
  let q = db.selectFrom('orders').selectAll().where('merchant_id', '=', merchantId);
  if (opts.status) q = q.where('status', '=', opts.status);
  const before = opts.before;
  if (before) {
    q = q.where((eb) => eb.or([eb('created_at', '<', before.createdAt), eb.and([eb('created_at', '=', before.createdAt), eb('id', '<', before.id)])]));
  }
  return q.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(opts.limit).execute();
}

export async function insertRefund(db: Executor, row: OrderRefundRow): Promise<void> {
  await db.insertInto('order_refunds').values(row).execute();
}

export async function findRefund(db: Executor, id: string): Promise<OrderRefundRow | undefined> {
  return db.selectFrom('order_refunds').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function completeRefund(db: Executor, id: string, now: number): Promise<void> {
  await db.updateTable('order_refunds').set({ status: 'succeeded', completed_at: now }).where('id', '=', id).where('status', '=', 'pending').execute();
}

export async function listRefunds(db: Executor, orderId: string): Promise<OrderRefundRow[]> {
  return db.selectFrom('order_refunds').selectAll().where('order_id', '=', orderId).orderBy('created_at').orderBy('id').execute();
}

/** Payments still `pending` since before `olderThan` (their request died): the reconciler's work. */
export async function listStalePayments(db: Executor, olderThan: number, limit: number): Promise<OrderRow[]> {
  return db.selectFrom('orders').selectAll().where('payment_status', '=', 'pending').where('updated_at', '<', olderThan).orderBy('updated_at').limit(limit).execute();
}
