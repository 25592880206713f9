import { sql } from 'kysely';
import type { Executor } from './executor.ts';

/**
 * Read queries of the operator dashboard: every tenant, newest first, keyset-paginated on
 * (created_at, id) over the indexes of migration 0009. None selects a ciphertext column.
 */
export interface Cursor {
  at: number;
  id: string;
}

/** `at` before the cursor, or equal with a smaller id (no cursor: every row), in plain SQL on the two column refs. */
function before(at: string, id: string, c: Cursor | undefined) {
  if (!c) return sql<boolean>`1 = 1`;
  return sql<boolean>`(${sql.ref(at)} < ${c.at} OR (${sql.ref(at)} = ${c.at} AND ${sql.ref(id)} < ${c.id}))`;
}

export async function countRows(db: Executor): Promise<Record<string, number>> {
  const one = async (q: Promise<{ n: number | string | bigint } | undefined>) => Number((await q)?.n ?? 0);
  const count = (table: 'merchants' | 'issuers' | 'orders' | 'network_tokens' | 'operators') =>
    one(db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst());
  const [merchants, issuers, orders, networkTokens, liveTokens, deadDeliveries, pendingDeliveries, runningBatches, runningFiles, pendingOps] = await Promise.all([
    count('merchants'),
    count('issuers'),
    count('orders'),
    count('network_tokens'),
    one(db.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).where('deleted_at', 'is', null).executeTakeFirst()),
    one(db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'dead').executeTakeFirst()),
    one(db.selectFrom('deliveries').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').executeTakeFirst()),
    one(db.selectFrom('batches').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '<>', 'COMPLETED').executeTakeFirst()),
    one(db.selectFrom('issuer_batches').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '<>', 'COMPLETED').executeTakeFirst()),
    one(db.selectFrom('issuer_operations').select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'PENDING').executeTakeFirst()),
  ]);
  return { merchants, issuers, orders, networkTokens, liveTokens, deadDeliveries, pendingDeliveries, runningBatches, runningFiles, pendingOps };
}

export async function listAllMerchants(db: Executor, limit: number) {
  return db.selectFrom('merchants').select(['id', 'name', 'status', 'notification_url', 'created_at']).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

export async function listAllIssuers(db: Executor, limit: number) {
  return db.selectFrom('issuers').select(['id', 'name', 'status', 'notify_url', 'records_per_second', 'created_at']).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
}

/** Vault tokens: brand and last four digits only. `state`: active, expired, deleted. */
export async function listVaultTokens(db: Executor, opts: { merchantId?: string | undefined; state?: string | undefined; now: number; limit: number; cursor?: Cursor | undefined }) {
  let q = db
    .selectFrom('tokens as t')
    .innerJoin('merchants as m', 'm.id', 't.merchant_id')
    .select(['t.token_hash', 't.merchant_id', 'm.name as merchant_name', 't.type', 't.brand', 't.last4', 't.exp_month', 't.exp_year', 't.expires_at', 't.validation_status', 't.used_at', 't.created_at', 't.deleted_at', 't.installments'])
    .where(before('t.created_at', 't.token_hash', opts.cursor));
  if (opts.merchantId) q = q.where('t.merchant_id', '=', opts.merchantId);
  if (opts.state === 'deleted') q = q.where('t.deleted_at', 'is not', null);
  if (opts.state === 'expired') q = q.where('t.deleted_at', 'is', null).where('t.expires_at', '<=', opts.now);
  if (opts.state === 'active') q = q.where('t.deleted_at', 'is', null).where((eb) => eb.or([eb('t.expires_at', 'is', null), eb('t.expires_at', '>', opts.now)]));
  return q.orderBy('t.created_at', 'desc').orderBy('t.token_hash', 'desc').limit(opts.limit).execute();
}

export async function listNetworkTokens(db: Executor, opts: { merchantId?: string | undefined; status?: string | undefined; limit: number; cursor?: Cursor | undefined }) {
  let q = db
    .selectFrom('network_tokens as t')
    .innerJoin('merchants as m', 'm.id', 't.merchant_id')
    .select(['t.id', 't.merchant_id', 'm.name as merchant_name', 't.network', 't.status', 't.card_bin', 't.card_last4', 't.token_last4', 't.token_expiry', 't.created_at', 't.updated_at'])
    .where(before('t.created_at', 't.id', opts.cursor));
  if (opts.merchantId) q = q.where('t.merchant_id', '=', opts.merchantId);
  if (opts.status) q = q.where('t.status', '=', opts.status);
  return q.orderBy('t.created_at', 'desc').orderBy('t.id', 'desc').limit(opts.limit).execute();
}

export async function listAllOrders(db: Executor, opts: { merchantId?: string | undefined; status?: string | undefined; limit: number; cursor?: Cursor | undefined }) {
  let q = db
    .selectFrom('orders as o')
    .innerJoin('merchants as m', 'm.id', 'o.merchant_id')
    .select(['o.id', 'o.number', 'o.merchant_id', 'm.name as merchant_name', 'o.currency', 'o.status', 'o.total', 'o.refunded_amount', 'o.brand', 'o.last4', 'o.payment_status', 'o.decline_code', 'o.installments', 'o.created_at'])
    .where(before('o.created_at', 'o.id', opts.cursor));
  if (opts.merchantId) q = q.where('o.merchant_id', '=', opts.merchantId);
  if (opts.status) q = q.where('o.status', '=', opts.status);
  return q.orderBy('o.created_at', 'desc').orderBy('o.id', 'desc').limit(opts.limit).execute();
}

/** Deliveries of every tenant (merchants and issuers), with the webhook they went to, if any. */
export async function listAllDeliveries(db: Executor, opts: { tenantId?: string | undefined; status?: string | undefined; limit: number; cursor?: Cursor | undefined }) {
  let q = db
    .selectFrom('deliveries as d')
    .leftJoin('webhook_deliveries as w', 'w.delivery_id', 'd.id')
    .select(['d.id', 'd.merchant_id', 'd.event_type', 'd.url', 'd.status', 'd.attempts', 'd.last_status', 'd.last_error', 'd.next_attempt_at', 'd.created_at', 'd.completed_at', 'w.webhook_id'])
    .where(before('d.created_at', 'd.id', opts.cursor));
  if (opts.tenantId) q = q.where('d.merchant_id', '=', opts.tenantId);
  if (opts.status) q = q.where('d.status', '=', opts.status);
  return q.orderBy('d.created_at', 'desc').orderBy('d.id', 'desc').limit(opts.limit).execute();
}

export async function findDeliveryLink(db: Executor, deliveryId: string) {
  return db
    .selectFrom('deliveries as d')
    .leftJoin('webhook_deliveries as w', 'w.delivery_id', 'd.id')
    .select(['d.id', 'd.merchant_id', 'd.status', 'w.webhook_id'])
    .where('d.id', '=', deliveryId)
    .executeTakeFirst();
}

export async function listAttemptsOf(db: Executor, deliveryIds: string[]) {
  if (deliveryIds.length === 0) return [];
  return db.selectFrom('delivery_attempts').selectAll().where('delivery_id', 'in', deliveryIds).orderBy('delivery_id').orderBy('attempt').execute();
}

export async function listCofBatches(db: Executor, limit: number) {
  return db
    .selectFrom('batches as b')
    .innerJoin('merchants as m', 'm.id', 'b.merchant_id')
    .select(['b.id', 'b.batch_id', 'b.merchant_id', 'm.name as merchant_name', 'b.status', 'b.chunks', 'b.total_records', 'b.succeeded', 'b.failed', 'b.started_at', 'b.completed_at'])
    .orderBy('b.started_at', 'desc')
    .orderBy('b.id', 'desc')
    .limit(limit)
    .execute();
}

export async function listIssuerBatchFiles(db: Executor, limit: number) {
  return db
    .selectFrom('issuer_batches as b')
    .innerJoin('issuers as i', 'i.id', 'b.issuer_id')
    .select(['b.issuer_id', 'i.name as issuer_name', 'b.batch_id', 'b.seq_number', 'b.operation', 'b.auto_enrolment', 'b.status', 'b.total_records', 'b.processed_records', 'b.ko_records', 'b.created_at', 'b.completed_at'])
    .orderBy('b.created_at', 'desc')
    .orderBy('b.batch_id', 'desc')
    .limit(limit)
    .execute();
}

export async function listOperations(db: Executor, opts: { issuerId?: string | undefined; status?: string | undefined; limit: number; cursor?: Cursor | undefined }) {
  let q = db
    .selectFrom('issuer_operations as o')
    .innerJoin('issuers as i', 'i.id', 'o.issuer_id')
    .leftJoin('issuer_cards as c', (j) => j.onRef('c.issuer_id', '=', 'o.issuer_id').onRef('c.id', '=', 'o.card_id'))
    .select(['o.id', 'o.issuer_id', 'i.name as issuer_name', 'o.card_id', 'c.network', 'c.last4', 'o.operation', 'o.status', 'o.error_code', 'o.reason', 'o.start_time', 'o.end_time'])
    .where(before('o.start_time', 'o.id', opts.cursor));
  if (opts.issuerId) q = q.where('o.issuer_id', '=', opts.issuerId);
  if (opts.status) q = q.where('o.status', '=', opts.status);
  return q.orderBy('o.start_time', 'desc').orderBy('o.id', 'desc').limit(opts.limit).execute();
}

/** Sandbox issuer traffic per second since `fromSecond` (PostgreSQL: every process's requests). */
export async function issuerSecondsSince(db: Executor, fromSecond: number) {
  return db.selectFrom('sandbox_issuer_seconds').select(['bin', 'second', 'accepted', 'throttled']).where('second', '>=', fromSecond).orderBy('second').execute();
}
