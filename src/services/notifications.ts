import { createHmac, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { Agent, request } from 'undici';
import type { Db } from '../storage/database.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { completeJob, enqueueJob, rescheduleJob, type JobRow } from '../storage/repos/jobs.ts';
import { findDelivery, insertDelivery, recordDeliveryAttempt, type DeliveryRow } from '../storage/repos/deliveries.ts';
import { findMerchant } from '../storage/repos/merchants.ts';
import { reopenDelivery } from '../storage/repos/webhooks.ts';
import type { Vault } from '../vault/vault.ts';
import type { TaskResult } from '../jobs/worker.ts';
import { webhookSecretAad } from './merchants.ts';

/**
 * Notification delivery: at least once, across restarts. Glossary: a *delivery* is one message to
 * one URL (its id is the `webhook-id`, stable across retries); an *attempt* is one HTTP POST of it.
 * A delivery is written in the transaction of the change it reports, with a job that sends it; a
 * 2xx ends it, 400/401/404/410 end it as dead at once, anything else (429, 5xx, timeouts, refused
 * connections) is retried with exponential backoff and jitter until `maxAttempts`, then dead.
 * Every attempt is recorded in `delivery_attempts`. Signing is a pluggable `Signer` per scheme.
 */
export const TASK_DELIVER = 'notifications.deliver';

/** Statuses that mean "this will never work": not retried. */
const NO_RETRY = new Set([400, 401, 404, 410]);

/** Signs a delivery: turns the merchant's secret into a key once (cached), then signs with it. */
export interface Signer {
  key(secret: string): KeyObject;
  /** `timestampMs` is the same instant as `timestampS`, for schemes that sign milliseconds. */
  headers(key: KeyObject, id: string, timestampS: number, body: string, timestampMs: number): Record<string, string>;
}

/** Standard Webhooks (standardwebhooks.com): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, secret `whsec_<base64>`. */
export const standardWebhooks: Signer = {
  key: (secret) => createSecretKey(Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64')),
  headers(key, id, timestampS, body) {
    const signature = createHmac('sha256', key).update(`${id}.${timestampS}.${body}`).digest('base64');
    return { 'webhook-id': id, 'webhook-timestamp': String(timestampS), 'webhook-signature': `v1,${signature}` };
  },
};

export interface NotificationServiceDeps {
  db: Db;
  vault: Vault;
  log: Logger;
  now: () => number;
  nudge: () => void;
  /** First retry delay; doubles each attempt. `TESSERA_RETRY_BASE_MS`, default 1000. */
  retryBaseMs: number;
  /** Retry delay cap. Default one hour. */
  retryMaxMs?: number;
  /** Attempts before a delivery is dead. `TESSERA_RETRY_MAX_ATTEMPTS`, default 15. */
  maxAttempts: number;
  /** Per attempt: connect + answer. Default 10 s. */
  timeoutMs?: number;
  /**
   * Attempts in flight at once, from this process, to one destination (scheme, host and port) that
   * is not known to be healthy: one this process has not heard from yet, one whose last attempt
   * failed to get an HTTP answer or took over `SLOW_ATTEMPT_MS`, or one with an attempt in flight
   * for longer than that. A delivery over the limit is put back without using an attempt, until
   * about when a slot should be free (see `deferralMs`). Healthy destinations are not limited (beyond the worker's own slots), so one busy
   * receiver still gets the whole worker. Default 4. Keeps receivers that hang, crawl or answer
   * garbage from taking every worker slot.
   */
  perDestination?: number;
  /** Signers by scheme. Default `{'standard-webhooks': standardWebhooks}`. */
  signers?: Record<string, Signer>;
  /** Counts attempts by outcome and attempt number. Default none. */
  metrics?: Pick<ServiceMetrics, 'notificationAttempt'>;
}

export interface NewDelivery {
  merchantId: string;
  url: string;
  eventType: string;
  body: unknown;
  /** Extra headers, e.g. `x-correlation-id`. */
  headers?: Record<string, string>;
  /** Default `standard-webhooks`. */
  scheme?: string;
}

/** What an attempt to a destination not heard from yet is assumed to take, until one has been timed. 100 ms. */
export const FIRST_ATTEMPT_GUESS_MS = 100;
/** The longest a delivery is put back for its destination being at its limit (then spread over the last half). 60 s. */
export const MAX_DEFERRAL_MS = 60_000;
/** An attempt slower than this (or without an HTTP answer) makes its destination "not healthy": limited. 1 s. */
export const SLOW_ATTEMPT_MS = 1000;

/** What one process knows of one destination (an origin). */
interface Destination {
  /** Start times (performance.now()) of the attempts in flight. */
  inFlight: Set<number>;
  /** Whether the last attempt got an HTTP answer within SLOW_ATTEMPT_MS. */
  healthy: boolean;
  /** Moving average of its attempts' durations, ms. */
  attemptMs: number;
  /** When the last deferred delivery was put back to (performance.now() clock). */
  nextTurnAt: number;
}

/** Weight of the newest attempt in a destination's moving average of attempt times. */
const ATTEMPT_TIME_WEIGHT = 0.2;

/** The destination a URL is limited under: its origin (an unparsable URL is its own destination). */
function destinationOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/** Backoff before retry number `attempt` (1 = first retry): base·2^(n−1), +0–20 % jitter, capped. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const exp = baseMs * 2 ** Math.max(0, attempt - 1);
  return Math.round(Math.min(maxMs, exp * (1 + Math.random() * 0.2)));
}

export function createNotificationService(deps: NotificationServiceDeps) {
  const k = deps.db.kysely;
  const timeoutMs = deps.timeoutMs ?? 10_000;
  const retryMaxMs = deps.retryMaxMs ?? 3_600_000;
  const signers: Record<string, Signer> = deps.signers ?? { 'standard-webhooks': standardWebhooks };
  const perDestination = deps.perDestination ?? 4;
  /** What this process knows of each destination it has sent to. */
  const destinations = new Map<string, Destination>();
  function destination(origin: string): Destination {
    let d = destinations.get(origin);
    if (!d) {
      if (destinations.size >= 10_000) for (const [key, old] of destinations) if (old.inFlight.size === 0) destinations.delete(key);
      d = { inFlight: new Set(), healthy: false, attemptMs: FIRST_ATTEMPT_GUESS_MS, nextTurnAt: 0 };
      destinations.set(origin, d);
    }
    return d;
  }

  /** Whether one more attempt to `d` may start now. */
  function mayStart(d: Destination, now: number): boolean {
    if (d.inFlight.size < perDestination) return true;
    if (!d.healthy) return false;
    for (const started of d.inFlight) if (now - started > SLOW_ATTEMPT_MS) return false;
    return true;
  }

  /**
   * How long to put back a delivery whose destination is at its limit: until about when a slot
   * should be free for it. Deferrals queue up behind each other, one per expected free slot (the
   * destination's typical attempt time ÷ its limit), so a backlog for a receiver that hangs is not
   * taken and put back every few hundred milliseconds (each time a write: with 20,000 queued for
   * one receiver, that alone was a core's worth of work); past MAX_DEFERRAL_MS they are spread over
   * its second half. A destination that turns healthy takes its deferred deliveries as they come due.
   */
  function deferralMs(d: Destination, now: number): number {
    const spacing = d.attemptMs / perDestination;
    const turn = Math.max(now, d.nextTurnAt) + spacing;
    if (turn - now > MAX_DEFERRAL_MS) return Math.round(MAX_DEFERRAL_MS * (0.5 + Math.random() * 0.5));
    d.nextTurnAt = turn;
    return Math.round(turn - now + Math.random() * spacing * 0.2);
  }
  const agent = new Agent({ connect: { timeout: timeoutMs }, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, keepAliveTimeout: 10_000, connections: 64 });
  /** Signing keys by scheme and merchant, decrypted once per process (webhook secrets do not change). */
  const keys = new Map<string, KeyObject>();
  /** Where the secrets of tenants that are not merchants (issuers) come from: see `addSecretSource`. */
  const secretSources: ((tenantId: string) => Promise<string | undefined>)[] = [];

  async function keyOf(merchantId: string, scheme: string, signer: Signer): Promise<KeyObject> {
    const cacheKey = `${scheme}:${merchantId}`;
    const hit = keys.get(cacheKey);
    if (hit) return hit;
    const merchant = await findMerchant(k, merchantId);
    let secret = merchant ? await deps.vault.decrypt(merchantId, merchant.webhook_secret_ct, webhookSecretAad(merchantId)) : undefined;
    for (const source of secretSources) secret ??= await source(merchantId);
    if (secret === undefined) throw new Error('delivery for an unknown merchant');
    const key = signer.key(secret);
    if (keys.size > 10_000) keys.clear();
    keys.set(cacheKey, key);
    return key;
  }

  async function post(d: DeliveryRow): Promise<{ status: number | null; error: string | null; retryAfterMs: number | null }> {
    const signer = signers[d.scheme];
    if (!signer) throw new Error(`no signer for scheme ${d.scheme}`);
    const sentAt = deps.now();
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'Tessera-Notifications/0.1',
      ...(JSON.parse(d.headers) as Record<string, string>),
      ...signer.headers(await keyOf(d.merchant_id, d.scheme, signer), d.id, Math.floor(sentAt / 1000), d.body, sentAt),
    };
    try {
      const res = await request(d.url, { method: 'POST', headers, body: d.body, dispatcher: agent, signal: AbortSignal.timeout(timeoutMs) });
      // The answer's body is not ours to keep (it may echo anything); drain it so the connection is reused.
      await res.body.dump();
      const ra = Number(res.headers['retry-after']);
      return { status: res.statusCode, error: null, retryAfterMs: Number.isFinite(ra) && ra > 0 ? ra * 1000 : null };
    } catch (err) {
      const e = err as { code?: string; name?: string };
      const reason = e.name === 'TimeoutError' || /Timeout/.test(e.code ?? '') ? 'timeout' : e.code === 'ECONNREFUSED' ? 'connection refused' : (e.code ?? e.name ?? 'network error');
      return { status: null, error: reason, retryAfterMs: null };
    }
  }

  return {
    /** Writes a delivery and its job in the caller's transaction. Call `nudge` after commit. Returns its id. */
    async enqueue(trx: Executor, n: NewDelivery): Promise<string> {
      const now = deps.now();
      const id = `msg_${randomUUID().replaceAll('-', '')}`;
      await insertDelivery(trx, {
        id,
        merchant_id: n.merchantId,
        scheme: n.scheme ?? 'standard-webhooks',
        event_type: n.eventType,
        url: n.url,
        headers: JSON.stringify(n.headers ?? {}),
        body: JSON.stringify(n.body),
        status: 'pending',
        attempts: 0,
        max_attempts: deps.maxAttempts,
        next_attempt_at: now,
        last_status: null,
        last_error: null,
        created_at: now,
        completed_at: null,
      });
      await enqueueJob(trx, { task: TASK_DELIVER, payload: { deliveryId: id }, uniqueKey: `delivery:${id}`, maxAttempts: deps.maxAttempts }, now);
      return id;
    },

    nudge: deps.nudge,

    /**
     * Sends a finished (delivered or dead) delivery again now, with a fresh budget of attempts on top
     * of those made; a pending one is left as is. For deliveries with no webhook subscription behind
     * them (`/cof/v1` and issuer notifications, order `notify_url`s). False: no such delivery.
     */
    async redeliver(deliveryId: string): Promise<boolean> {
      const d = await findDelivery(k, deliveryId);
      if (!d) return false;
      if (d.status === 'pending') return true;
      const now = deps.now();
      await k.transaction().execute(async (trx) => {
        await reopenDelivery(trx, d.id, deps.maxAttempts, now);
        await enqueueJob(trx, { task: TASK_DELIVER, payload: { deliveryId: d.id }, uniqueKey: `delivery:${d.id}`, maxAttempts: deps.maxAttempts }, now);
      });
      deps.nudge();
      return true;
    },

    /** Adds a lookup of signing secrets for tenants that are not merchants (e.g. issuers); undefined = not mine. */
    addSecretSource(source: (tenantId: string) => Promise<string | undefined>): void {
      secretSources.push(source);
    },

    /** The job: one attempt. Returns a reschedule for a retry; throws only for faults of our own. */
    async deliver(payload: unknown, job: JobRow): Promise<TaskResult> {
      const { deliveryId } = payload as { deliveryId: string };
      const d = await findDelivery(k, deliveryId);
      if (!d || d.status !== 'pending') return;
      const dest = destination(destinationOf(d.url));
      const t0 = performance.now();
      if (!mayStart(dest, t0)) return { rescheduleAt: deps.now() + deferralMs(dest, t0) };
      // performance.now() is unique enough per attempt; a collision only undercounts by one.
      dest.inFlight.add(t0);
      const started = deps.now();
      let res;
      try {
        res = await post(d);
      } finally {
        dest.inFlight.delete(t0);
      }
      const tookMs = performance.now() - t0;
      dest.healthy = res.status !== null && tookMs <= SLOW_ATTEMPT_MS;
      dest.attemptMs += (tookMs - dest.attemptMs) * ATTEMPT_TIME_WEIGHT;
      const now = deps.now();
      const attempt = d.attempts + 1;
      const ok = res.status !== null && res.status >= 200 && res.status < 300;
      const final = res.status !== null && NO_RETRY.has(res.status);
      const outcome = ok ? 'delivered' : final || attempt >= d.max_attempts ? 'dead' : 'retry';
      const error = ok ? null : (res.error ?? `HTTP ${res.status}`) + (final ? ' (not retried)' : '');
      let nextAt: number | null = null;
      if (outcome === 'retry') {
        const backoff = retryDelayMs(attempt, deps.retryBaseMs, retryMaxMs);
        nextAt = now + Math.min(retryMaxMs, Math.max(backoff, res.retryAfterMs ?? 0));
      }
      await k.transaction().execute(async (trx) => {
        await recordDeliveryAttempt(
          trx,
          { delivery_id: d.id, attempt, started_at: started, duration_ms: Math.round(performance.now() - t0), status_code: res.status, error, outcome },
          {
            status: outcome === 'retry' ? 'pending' : outcome,
            attempts: attempt,
            next_attempt_at: nextAt,
            last_status: res.status,
            last_error: error,
            completed_at: outcome === 'retry' ? null : now,
          },
        );
        // The job's next state commits with the attempt's record (one commit per attempt, not two).
        if (nextAt !== null) await rescheduleJob(trx, job.id, job.locked_by!, nextAt, now);
        else await completeJob(trx, job.id, job.locked_by!);
      });
      deps.metrics?.notificationAttempt(outcome, attempt);
      if (outcome === 'dead') deps.log.warn({ delivery: d.id, merchant: d.merchant_id, attempts: attempt, error }, 'notification dead');
      return { settled: true };
    },

    async close(): Promise<void> {
      await agent.close();
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
