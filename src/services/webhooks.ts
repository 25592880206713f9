import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import { WEBHOOK_EVENTS, type WebhookEvent } from '../domain/orders.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { listDeliveryAttempts, type DeliveryRow } from '../storage/repos/deliveries.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import {
  deleteWebhook,
  findWebhook,
  findWebhookDelivery,
  insertWebhook,
  linkDelivery,
  listLiveWebhooks,
  listWebhookDeliveries,
  listWebhooks,
  reopenDelivery,
  type WebhookRow,
} from '../storage/repos/webhooks.ts';
import { validateNotificationUrl } from './merchants.ts';
import { TASK_DELIVER, type NotificationService, type Signer } from './notifications.ts';

/** The signing scheme of merchant webhooks and order `notify_url`s in the notification engine. */
export const ECART_PAY_SCHEME = 'ecart-pay';

/**
 * Ecart Pay webhook signatures: `x-pay-signature: SHA256=<hex HMAC-SHA256 of
 * "${timestamp}.${webhookId}.${body}">` keyed by the merchant's webhook secret (its UTF-8 bytes, as
 * a merchant would pass it to `createHmac`), `x-pay-timestamp` in epoch milliseconds and
 * `x-pay-webhook-id` the delivery id (stable across retries: receivers de-duplicate on it).
 */
export const ecartPaySigner: Signer = {
  key: (secret) => createSecretKey(Buffer.from(secret, 'utf8')),
  headers(key, id, _timestampS, body, timestampMs) {
    const signature = createHmac('sha256', key).update(`${timestampMs}.${id}.${body}`).digest('hex');
    return { 'x-pay-timestamp': String(timestampMs), 'x-pay-webhook-id': id, 'x-pay-signature': `SHA256=${signature}` };
  },
};

/** Webhooks one merchant may have. */
const MAX_WEBHOOKS = 20;

export interface WebhookServiceDeps {
  db: Db;
  notifications: NotificationService;
  now: () => number;
  /** Attempts a retried delivery gets on top of those it made. `TESSERA_RETRY_MAX_ATTEMPTS`. */
  maxAttempts: number;
}

export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEvent[];
  created_at: string;
}

export interface DeliveryView {
  id: string;
  event: string;
  url: string;
  status: string;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  next_attempt_at: string | null;
  created_at: string;
  completed_at: string | null;
  attempt_log: { attempt: number; started_at: string; duration_ms: number; status_code: number | null; error: string | null; outcome: string }[];
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function webhookView(w: WebhookRow): WebhookView {
  return { id: w.id, url: w.url, events: JSON.parse(w.events) as WebhookEvent[], created_at: new Date(w.created_at).toISOString() };
}

/**
 * How long a process trusts its copy of a merchant's subscriptions. Changes made through this
 * process apply at once; another process's change is seen within this time. Default 1 s.
 */
const SUBSCRIPTIONS_TTL_MS = 1000;

export function createWebhookService(deps: WebhookServiceDeps) {
  const k = deps.db.kysely;
  const cached = new Map<string, { rows: WebhookRow[]; until: number }>();

  async function own(merchantId: string, id: string): Promise<WebhookRow> {
    const w = await findWebhook(k, merchantId, id);
    if (!w) throw new TesseraError('webhook_not_found', 'No such webhook.', 'id');
    return w;
  }

  async function deliveryView(d: DeliveryRow): Promise<DeliveryView> {
    const attempts = await listDeliveryAttempts(k, d.id);
    return {
      id: d.id,
      event: d.event_type,
      url: d.url,
      status: d.status,
      attempts: d.attempts,
      last_status: d.last_status,
      last_error: d.last_error,
      next_attempt_at: d.status === 'pending' ? iso(d.next_attempt_at) : null,
      created_at: new Date(d.created_at).toISOString(),
      completed_at: iso(d.completed_at),
      attempt_log: attempts.map((a) => ({
        attempt: a.attempt,
        started_at: new Date(a.started_at).toISOString(),
        duration_ms: a.duration_ms,
        status_code: a.status_code,
        error: a.error,
        outcome: a.outcome,
      })),
    };
  }

  return {
    async create(merchantId: string, input: { url: string; events: string[] }): Promise<WebhookView> {
      const url = validateNotificationUrl(input.url, 'url');
      const events = [...new Set(input.events)];
      for (const [i, e] of events.entries()) {
        if (!(WEBHOOK_EVENTS as readonly string[]).includes(e)) throw new TesseraError('invalid_field', `events.${i} must be one of ${WEBHOOK_EVENTS.join(', ')}.`, `events.${i}`);
      }
      if (events.length === 0) throw new TesseraError('invalid_field', 'events must name at least one event.', 'events');
      if ((await listWebhooks(k, merchantId)).length >= MAX_WEBHOOKS) {
        throw new TesseraError('invalid_request', `A merchant may have at most ${MAX_WEBHOOKS} webhooks: delete one first.`, 'url');
      }
      const row: WebhookRow = { id: 'wh_' + randomBytes(12).toString('hex'), merchant_id: merchantId, url, events: JSON.stringify(events), created_at: deps.now(), deleted_at: null };
      await insertWebhook(k, row);
      cached.delete(merchantId);
      return webhookView(row);
    },

    async list(merchantId: string): Promise<WebhookView[]> {
      return (await listWebhooks(k, merchantId)).map(webhookView);
    },

    async delete(merchantId: string, id: string): Promise<void> {
      if (!(await deleteWebhook(k, merchantId, id, deps.now()))) throw new TesseraError('webhook_not_found', 'No such webhook.', 'id');
      cached.delete(merchantId);
    },

    async deliveries(merchantId: string, id: string, limit = 50): Promise<DeliveryView[]> {
      await own(merchantId, id);
      return Promise.all((await listWebhookDeliveries(k, id, limit)).map(deliveryView));
    },

    /** Sends a delivery again now (a dead one gets a fresh budget of attempts); a pending one is left as is. */
    async retry(merchantId: string, id: string, deliveryId: string): Promise<DeliveryView> {
      await own(merchantId, id);
      const d = await findWebhookDelivery(k, id, deliveryId);
      if (!d) throw new TesseraError('delivery_not_found', 'No such delivery for this webhook.', 'deliveryId');
      if (d.status !== 'pending') {
        const now = deps.now();
        await k.transaction().execute(async (trx) => {
          await reopenDelivery(trx, d.id, deps.maxAttempts, now);
          await enqueueJob(trx, { task: TASK_DELIVER, payload: { deliveryId: d.id }, uniqueKey: `delivery:${d.id}`, maxAttempts: deps.maxAttempts }, now);
        });
        deps.notifications.nudge();
      }
      const fresh = await findWebhookDelivery(k, id, deliveryId);
      return deliveryView(fresh ?? d);
    },

    /** The merchant's live subscriptions, read once per use case and handed to `emit`. */
    subscriptions(merchantId: string, trx: Executor = k): Promise<WebhookRow[]> {
      return listLiveWebhooks(deps.db.engine, trx, merchantId);
    },

    /**
     * Whether any subscription of the merchant wants `event`, from a short-lived per-process copy:
     * the hot paths (tokenization) skip the transaction and the query when nobody listens.
     */
    async listens(merchantId: string, event: WebhookEvent): Promise<boolean> {
      const now = Date.now();
      let entry = cached.get(merchantId);
      if (!entry || entry.until <= now) {
        entry = { rows: await listWebhooks(k, merchantId), until: now + SUBSCRIPTIONS_TTL_MS };
        if (cached.size >= 10_000) cached.clear();
        cached.set(merchantId, entry);
      }
      return entry.rows.some((w) => (JSON.parse(w.events) as string[]).includes(event));
    },

    /**
     * Queues `{event, data}` (`data` may be a function, built only if someone listens) to every subscription of `event` (and to `extraUrl`, e.g. an order's
     * `notify_url`) in the caller's transaction. Returns how many were queued: nudge after commit.
     */
    async emit(trx: Executor, subs: WebhookRow[], merchantId: string, event: WebhookEvent, data: unknown | (() => unknown), extraUrl?: string | null): Promise<number> {
      let queued = 0;
      let body: { event: WebhookEvent; data: unknown } | undefined;
      const payload = () => (body ??= { event, data: typeof data === 'function' ? (data as () => unknown)() : data });
      for (const w of subs) {
        if (!(JSON.parse(w.events) as string[]).includes(event)) continue;
        const deliveryId = await deps.notifications.enqueue(trx, { merchantId, url: w.url, eventType: event, body: payload(), scheme: ECART_PAY_SCHEME });
        await linkDelivery(trx, { delivery_id: deliveryId, webhook_id: w.id, merchant_id: merchantId, created_at: deps.now() });
        queued++;
      }
      if (extraUrl) {
        await deps.notifications.enqueue(trx, { merchantId, url: extraUrl, eventType: event, body: payload(), scheme: ECART_PAY_SCHEME });
        queued++;
      }
      return queued;
    },
  };
}

export type WebhookService = ReturnType<typeof createWebhookService>;
