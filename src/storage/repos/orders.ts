import type { Updateable } from 'kysely';
import type { OrderRefundsTable, OrdersTable } from '../schema.ts';
import type { Db, Engine } from '../database.ts';
import { compiledInsert, compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

export type OrderRow = OrdersTable;
export type OrderRefundRow = OrderRefundsTable;

// On the path of every order: built once (see `compiledInsert`).
const insertOrderQuery = compiledInsert<OrderRow>(
  {
    id: 1, merchant_id: 1, number: 1, customer_id: 1, currency: 1, status: 1, items: 1, subtotal: 1, total: 1, notify_url: 1, redirect_url: 1,
    installments: 1, fixed_installments: 1, token_type: 1, brand: 1, last4: 1, payment_status: 1, payment_reference: 1, authorization_id: 1,
    credential: 1, decline_code: 1, captured_amount: 1, refunded_amount: 1, created_at: 1, updated_at: 1, paid_at: 1, installment_options: 1, idempotency_key: 1,
  },
  (db, row) => db.insertInto('orders').values(row),
);

export async function insertOrder(engine: Engine, db: Executor, row: OrderRow): Promise<void> {
  await insertOrderQuery(engine, db, row);
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

// `settleOrderPayment` of a captured payment, on the path of every paid order: built once (see `compiledOnce`).
const settlePaidQuery = compiledOnce((db: Executor, id: string, authorizationId: string, credential: string, capturedAmount: number, at: number) =>
  db
    .updateTable('orders')
    .set({ status: 'paid', payment_status: 'captured', authorization_id: authorizationId, credential, captured_amount: capturedAmount, paid_at: at, updated_at: at })
    .where('id', '=', id)
    .where('payment_status', '=', 'pending'),
);

/** Settles a payment once as captured (the order is paid): only an order whose payment is still `pending` changes. */
export async function settleOrderPaid(
  engine: Engine,
  db: Executor,
  id: string,
  paid: { authorization_id: string; credential: string; captured_amount: number; paid_at: number },
): Promise<boolean> {
  const r = await settlePaidQuery(engine, db, id, paid.authorization_id, paid.credential, paid.captured_amount, paid.paid_at);
  return Number(r.numAffectedRows ?? 0) > 0;
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
