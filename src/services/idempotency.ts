import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { containsPan } from '../domain/card.ts';
import { TesseraError } from '../domain/errors.ts';
import type { Db } from '../storage/database.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  deleteExpiredKey,
  findIdempotencyKey,
  purgeIdempotencyKeys,
  releaseIdempotencyKey,
  takeOverKey,
} from '../storage/repos/idempotency.ts';
import type { Vault } from '../vault/vault.ts';

/**
 * `Idempotency-Key` for every POST of every face. Glossary: a *key* belongs to one tenant; the
 * first request with it *claims* it (a row, `in_progress`), does the work and stores its answer
 * (`done`, the body vault-encrypted: it may hold a bearer token); a retry with the same key and the
 * same request *replays* that answer; the same key with another request is refused. Concurrent
 * duplicates wait for the first to answer. Answers of 5xx are not kept: a retry does the work.
 */
export const TASK_PURGE_IDEMPOTENCY = 'idempotency.purge';

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export interface IdempotencyDeps {
  db: Db;
  vault: Vault;
  /** Keys the request fingerprints (an HMAC: a body may hold card data). */
  hmacKey: Buffer;
  log: Logger;
  now: () => number;
  /** How long a key lives. Default 24 h. */
  ttlMs?: number;
  /** A claim whose request gives no sign of life for this long is taken over. Default 60 s. */
  lockMs?: number;
  /** How long a concurrent duplicate waits for the first request's answer. Default 10 s. */
  waitMs?: number;
  /** How often expired keys are purged. Default one hour. */
  purgeIntervalMs?: number;
}

export type BeginOutcome = { kind: 'proceed' } | { kind: 'replay'; status: number; type: string | null; body: string };

export const idempotencyAad = (tenant: string, key: string) => `idempotency:${tenant}:${key}`;
const aad = idempotencyAad;

export function createIdempotencyService(deps: IdempotencyDeps) {
  const k = deps.db.kysely;
  const ttlMs = deps.ttlMs ?? 24 * 3600_000;
  const lockMs = deps.lockMs ?? 60_000;
  const waitMs = deps.waitMs ?? 10_000;
  const hmac: KeyObject = createSecretKey(deps.hmacKey);

  return {
    /** Validates the header value; throws `invalid_idempotency_key` (400). */
    validKey(value: unknown): string {
      if (typeof value !== 'string' || !KEY_PATTERN.test(value)) {
        throw new TesseraError('invalid_idempotency_key', 'Idempotency-Key must be 1–255 printable ASCII characters.', 'Idempotency-Key');
      }
      // Keys are stored as sent: a card number pasted into one would be stored in the clear.
      if (containsPan(value)) throw new TesseraError('invalid_idempotency_key', 'Idempotency-Key must not contain a card number.', 'Idempotency-Key');
      return value;
    },

    /** Claims the key for this request, or returns the answer to replay. */
    async begin(tenant: string, key: string, request: string): Promise<BeginOutcome> {
      const hash = createHmac('sha256', hmac).update(request).digest('hex');
      const deadline = Date.now() + waitMs;
      for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
        const now = deps.now();
        const claimed = await claimIdempotencyKey(k, {
          merchant_id: tenant,
          key,
          request_hash: hash,
          status: 'in_progress',
          response_status: null,
          response_type: null,
          response_ct: null,
          locked_until: now + lockMs,
          created_at: now,
          expires_at: now + ttlMs,
        });
        if (claimed) return { kind: 'proceed' };
        const row = await findIdempotencyKey(k, tenant, key);
        if (!row) continue;
        if (row.expires_at <= now) {
          await deleteExpiredKey(k, tenant, key, now);
          continue;
        }
        if (row.request_hash !== hash) {
          throw new TesseraError('idempotency_key_reused', 'This Idempotency-Key was used with another request: use a new key for a new request.', 'Idempotency-Key');
        }
        if (row.status === 'done' && row.response_ct !== null && row.response_status !== null) {
          const body = await deps.vault.decrypt(tenant, row.response_ct, aad(tenant, key));
          return { kind: 'replay', status: row.response_status, type: row.response_type, body };
        }
        if (row.locked_until < now && (await takeOverKey(k, tenant, key, hash, now + lockMs, now))) return { kind: 'proceed' };
        if (Date.now() > deadline) {
          throw new TesseraError('idempotency_key_in_use', 'A request with this Idempotency-Key is still being processed: retry shortly.', 'Idempotency-Key');
        }
        await new Promise((r) => setTimeout(r, pause));
      }
    },

    /**
     * Stores the answer of a claimed key. 5xx and 429 answers are let go instead, so a retry with the
     * same key does the work: both say "not done, try again" (a stored 429 would be replayed forever).
     */
    async finish(tenant: string, key: string, status: number, type: string | null, body: string): Promise<void> {
      if (status >= 500 || status === 429) return releaseIdempotencyKey(k, tenant, key);
      const ct = await deps.vault.encrypt(tenant, body, aad(tenant, key));
      await completeIdempotencyKey(k, tenant, key, { response_status: status, response_type: type, response_ct: ct });
    },

    /** The recurring job: drops expired keys. */
    async purgeExpired(): Promise<{ rescheduleAt: number }> {
      const now = deps.now();
      const n = await purgeIdempotencyKeys(k, now);
      if (n > 0) deps.log.info({ keys: n }, 'purged expired idempotency keys');
      return { rescheduleAt: now + (deps.purgeIntervalMs ?? 3600_000) };
    },

    /** Makes sure the recurring purge is scheduled (idempotent). */
    async schedulePurge(): Promise<void> {
      const now = deps.now();
      await enqueueJob(k, { task: TASK_PURGE_IDEMPOTENCY, payload: {}, uniqueKey: TASK_PURGE_IDEMPOTENCY, runAt: now }, now);
    },
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;
