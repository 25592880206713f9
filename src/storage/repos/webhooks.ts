import type { DeliveriesTable, WebhookDeliveriesTable, WebhooksTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

export type WebhookRow = WebhooksTable;

export async function insertWebhook(db: Executor, row: WebhookRow): Promise<void> {
  await db.insertInto('webhooks').values(row).execute();
}

/** A merchant's own live webhook; another merchant's id finds nothing. */
export async function findWebhook(db: Executor, merchantId: string, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom('webhooks').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

export async function listWebhooks(db: Executor, merchantId: string): Promise<WebhookRow[]> {
  return liveWebhooks(db, merchantId).execute();
}

const liveWebhooks = (db: Executor, merchantId: string) =>
  db.selectFrom('webhooks').selectAll().where('merchant_id', '=', merchantId).where('deleted_at', 'is', null).orderBy('created_at').orderBy('id');

// Read once per order (its subscriptions): built once (see `compiledOnce`).
const liveWebhooksQuery = compiledOnce(liveWebhooks);

/** `listWebhooks` through a query built once per engine, for the hot paths. */
export async function listLiveWebhooks(engine: Engine, db: Executor, merchantId: string): Promise<WebhookRow[]> {
  return (await liveWebhooksQuery(engine, db, merchantId)).rows;
}

export async function deleteWebhook(db: Executor, merchantId: string, id: string, now: number): Promise<boolean> {
  const r = await db
    .updateTable('webhooks')
    .set({ deleted_at: now })
    .where('merchant_id', '=', merchantId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function linkDelivery(db: Executor, row: WebhookDeliveriesTable): Promise<void> {
  await db.insertInto('webhook_deliveries').values(row).execute();
}

/** A webhook's deliveries, newest first. */
export async function listWebhookDeliveries(db: Executor, webhookId: string, limit: number): Promise<DeliveriesTable[]> {
  return db
    .selectFrom('webhook_deliveries as w')
    .innerJoin('deliveries as d', 'd.id', 'w.delivery_id')
    .selectAll('d')
    .where('w.webhook_id', '=', webhookId)
    .orderBy('w.created_at', 'desc')
    .orderBy('w.delivery_id', 'desc')
    .limit(limit)
    .execute();
}

export async function findWebhookDelivery(db: Executor, webhookId: string, deliveryId: string): Promise<DeliveriesTable | undefined> {
  return db
    .selectFrom('webhook_deliveries as w')
    .innerJoin('deliveries as d', 'd.id', 'w.delivery_id')
    .selectAll('d')
    .where('w.webhook_id', '=', webhookId)
    .where('w.delivery_id', '=', deliveryId)
    .executeTakeFirst();
}

/** Sends a delivery again: pending now, with a fresh budget of attempts on top of those made. */
export async function reopenDelivery(db: Executor, id: string, maxAttempts: number, now: number): Promise<void> {
  await db
    .updateTable('deliveries')
    .set((eb) => ({ status: 'pending', max_attempts: eb('attempts', '+', maxAttempts), next_attempt_at: now, completed_at: null }))
    .where('id', '=', id)
    .execute();
}
