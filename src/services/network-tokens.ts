import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Card } from '../domain/card.ts';
import { networkOf, parseCofPayload, requireNetworkFields, type CardholderData, type CofSource } from '../domain/cof-payload.ts';
import { TesseraError, type ErrorCode } from '../domain/errors.ts';
import {
  TspRateLimitedError,
  TspUnavailableError,
  type LifecycleAction,
  type NetworkName,
  type NetworkTokenInfo,
  type NetworkTokenStatus,
  type ProvisionResult,
  type TokenLifecycleEvent,
  type TokenServiceProvider,
} from '../domain/network.ts';
import { PERMANENT_TOKEN } from '../domain/tokens.ts';
import type { Db } from '../storage/database.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { enqueueJob, type JobRow } from '../storage/repos/jobs.ts';
import { findMerchant } from '../storage/repos/merchants.ts';
import {
  completeTokenRequest,
  findNetworkToken,
  findTokenRequest,
  findTokenRequestById,
  insertNetworkToken,
  insertNetworkTokens,
  insertTokenRequest,
  findTokenRequestByIdempotencyKey,
  updateNetworkToken,
  type NetworkTokenRequestRow,
  type NetworkTokenRow,
} from '../storage/repos/network-tokens.ts';
import { findToken } from '../storage/repos/tokens.ts';
import type { ServiceKeyRing } from '../vault/jwe.ts';
import { sha256Hex } from '../vault/master-key.ts';
import type { Vault } from '../vault/vault.ts';
import type { NotificationService } from './notifications.ts';
import { tokenAad } from './tokens.ts';
import type { AuditService } from './audit.ts';

export const TASK_CREATE_ASYNC = 'cof.create_token';
/** TSP attempts of an async request before it fails with the last transient error. Default 5. */
const ASYNC_TSP_ATTEMPTS = 5;

export interface NetworkTokenServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  keys: ServiceKeyRing;
  tsp: TokenServiceProvider;
  notifications: NotificationService;
  log: Logger;
  now: () => number;
  nudge: () => void;
  /** Counts network tokens created. Default none. */
  metrics?: Pick<ServiceMetrics, 'tokenCreated'>;
}

/** The body of `POST /cof/v1/tokens` and `/async-tokens`. */
export interface CreateNetworkTokenInput {
  merchantId: string;
  encryptedData: string;
  source: CofSource;
}

/** A network token as the `/cof/v1` face shows it. Never a PAN or token PAN. */
export interface NetworkTokenView {
  tokenId: string;
  tokenStatus: NetworkTokenStatus;
  network: NetworkName;
  cardBin: string;
  cardLastDigits: string;
  cardExpiryDate: string;
  tokenLastDigits: string;
  tokenExpiryDate: string;
  par: string;
  cardArtIds: string[];
  issuer: { name: string; bin: string };
}

/** An async request as notified: token metadata on success, only `errorCode` and `message` on failure. */
export type AsyncRequestView = { requestId: string; merchantId: string } & (Partial<NetworkTokenView> & { errorCode?: string; message?: string });

/** What the TSP gets asked: a validated card and the cardholder data its network keys tokens by. */
export interface Prepared extends CardholderData {
  card: Card;
  network: NetworkName;
  source: CofSource;
}

export type Outcome = { ok: true; view: NetworkTokenView } | { ok: false; code: ErrorCode; message: string; retryAfterS?: number };

export const networkTokenAad = (id: string) => `network-token:${id}`;
export const requestAad = (id: string) => `token-request:${id}`;

const DECLINE_MESSAGES: Partial<Record<ErrorCode, string>> = {
  authentication_required: 'The issuer requires cardholder authentication (step-up) before a token can be issued.',
  lost_card: 'The issuer declined: the card is reported lost.',
  stolen_card: 'The issuer declined: the card is reported stolen.',
  expired_card: 'The issuer declined: the card has expired.',
  incorrect_cvc: 'The issuer declined: the card security code is incorrect.',
  processing_error: 'The issuer could not process the request. Try again.',
};

export function viewOf(row: NetworkTokenRow): NetworkTokenView {
  return {
    tokenId: row.id,
    tokenStatus: row.status as NetworkTokenStatus,
    network: row.network as NetworkName,
    cardBin: row.card_bin,
    cardLastDigits: row.card_last4,
    cardExpiryDate: row.card_expiry,
    tokenLastDigits: row.token_last4,
    tokenExpiryDate: row.token_expiry,
    par: row.par,
    cardArtIds: JSON.parse(row.card_art_ids) as string[],
    issuer: JSON.parse(row.issuer) as { name: string; bin: string },
  };
}

export function assertCaller(callerId: string, bodyMerchantId: string): void {
  if (callerId !== bodyMerchantId) throw new TesseraError('merchant_not_found', 'No such merchant.', 'merchantId');
}

export function createNetworkTokenService(deps: NetworkTokenServiceDeps) {
  const k = deps.db.kysely;

  /** Decrypts and validates a request, resolving a vault token to its card. Nothing is stored. */
  async function prepare(merchantId: string, input: CreateNetworkTokenInput): Promise<Prepared> {
    assertCaller(merchantId, input.merchantId);
    await deps.audit.record({ tenantId: merchantId, operation: 'network_token.create', reason: `network tokenization (source ${input.source})` });
    const payload = parseCofPayload(await deps.keys.decrypt(input.encryptedData), input.source, new Date(deps.now()));
    let card: Card;
    if (payload.kind === 'token') {
      const hash = PERMANENT_TOKEN.test(payload.token) ? sha256Hex(payload.token) : undefined;
      const row = hash ? await findToken(k, merchantId, hash) : undefined;
      if (!hash || !row || row.type !== 'permanent' || row.validation_status === 'pending' || !row.card_ct) {
        throw new TesseraError('token_not_found', 'encryptedData.token is not a permanent vault token of this merchant.', 'encryptedData.token');
      }
      card = await deps.vault.decryptCard(merchantId, row.card_ct, tokenAad(hash));
    } else {
      card = payload.card;
    }
    const network = networkOf(card.pan);
    requireNetworkFields(network, payload);
    return { card, network, source: input.source, cvv: payload.cvv, accountId: payload.accountId, email: payload.email };
  }

  /**
   * Asks the TSP and keeps what it issued. Transient TSP faults throw; declines are values.
   * `defer` (batch records): the token row is not written but handed back, for the caller to write in
   * the transaction that commits the record's result.
   */
  async function provision(merchantId: string, p: Prepared, requestId?: string, defer = false): Promise<Outcome & { row?: NetworkTokenRow }> {
    const result: ProvisionResult = await deps.tsp.requestToken({ merchantId, ...p, requestId });
    if (!result.ok) return { ok: false, code: result.decline, message: DECLINE_MESSAGES[result.decline] ?? 'The issuer declined the token request.' };
    const t = result.token;
    const now = deps.now();
    const row: NetworkTokenRow = {
      id: t.tokenRef,
      merchant_id: merchantId,
      network: t.network,
      status: t.status,
      source: p.source,
      card_ct: await deps.vault.encryptCard(merchantId, p.card, networkTokenAad(t.tokenRef)),
      card_bin: p.card.pan.slice(0, 6),
      card_last4: p.card.pan.slice(-4),
      card_expiry: t.cardExpiryDate,
      token_last4: t.tokenLastDigits,
      token_expiry: t.tokenExpiryDate,
      par: t.par,
      card_art_ids: JSON.stringify(t.cardArtIds),
      issuer: JSON.stringify(t.issuer),
      created_at: now,
      updated_at: now,
      card_fingerprint: await deps.vault.panFingerprint(merchantId, p.card.pan),
    };
    if (defer) return { ok: true, view: viewOf(row), row };
    if (await insertNetworkToken(deps.db.engine, k, row)) {
      deps.metrics?.tokenCreated('network');
      return { ok: true, view: viewOf(row) };
    }
    // The TSP handed back a token it had issued (Visa/Amex identity rules): show its current state.
    const existing = await findNetworkToken(k, merchantId, t.tokenRef);
    if (!existing) throw new Error('TSP returned a token of another requestor');
    return { ok: true, view: viewOf({ ...existing, status: t.status, card_expiry: t.cardExpiryDate }) };
  }

  function transient(err: unknown): Outcome | undefined {
    if (err instanceof TspRateLimitedError) return { ok: false, code: 'rate_limited', message: 'The card network is rate limiting requests for this issuer. Retry later.', retryAfterS: err.retryAfterS };
    if (err instanceof TspUnavailableError) return { ok: false, code: 'tsp_unavailable', message: 'The card network did not answer in time. Retry later.', retryAfterS: 1 };
    return undefined;
  }

  async function notify(trx: Executor, merchantId: string, eventType: string, body: unknown, correlationId: string): Promise<boolean> {
    const merchant = await findMerchant(trx, merchantId);
    if (!merchant?.notification_url) return false;
    await deps.notifications.enqueue(trx, { merchantId, url: merchant.notification_url, eventType, body, headers: { 'x-correlation-id': correlationId } });
    return true;
  }

  /** Applies a TSP state to Tessera's row and notifies the merchant, once per real change. */
  async function applyState(row: NetworkTokenRow, t: NetworkTokenInfo, reason: string, correlationId: string): Promise<NetworkTokenRow> {
    if (row.status === t.status && row.card_expiry === t.cardExpiryDate) return row;
    const now = deps.now();
    const updated: NetworkTokenRow = {
      ...row,
      status: t.status,
      card_expiry: t.cardExpiryDate,
      updated_at: now,
      card_ct: t.status === 'DELETED' ? null : row.card_ct,
    };
    let queued = false;
    await k.transaction().execute(async (trx) => {
      await updateNetworkToken(trx, row.id, { status: updated.status, card_expiry: updated.card_expiry, updated_at: now, card_ct: updated.card_ct });
      queued = await notify(trx, row.merchant_id, 'token.updated', { merchantId: row.merchant_id, ...viewOf(updated), reason }, correlationId);
    });
    if (queued) deps.nudge();
    return updated;
  }

  function requestView(r: NetworkTokenRequestRow, token: NetworkTokenRow | undefined): AsyncRequestView {
    if (r.status === 'FAILED') return { requestId: r.id, merchantId: r.merchant_id, errorCode: r.error_code ?? 'internal_error', message: r.error_message ?? '' };
    if (r.status === 'SUCCEEDED' && token) return { requestId: r.id, merchantId: r.merchant_id, ...viewOf(token) };
    return { requestId: r.id, merchantId: r.merchant_id };
  }

  const service = {
    /** `POST /cof/v1/tokens`: synchronous. Declines and transient TSP faults become errors. */
    async create(merchantId: string, input: CreateNetworkTokenInput): Promise<NetworkTokenView> {
      const prepared = await prepare(merchantId, input);
      let outcome: Outcome;
      try {
        outcome = await provision(merchantId, prepared);
      } catch (err) {
        const t = transient(err);
        if (!t) throw err;
        outcome = t;
      }
      if (!outcome.ok) throw new TesseraError(outcome.code, outcome.message, undefined, outcome.retryAfterS);
      return outcome.view;
    },

    /** `POST /cof/v1/async-tokens`: validated now (bad input fails at once), sent to the TSP by a job. */
    async createAsync(merchantId: string, input: CreateNetworkTokenInput, correlationId: string, opts: { idempotencyKey?: string | undefined } = {}): Promise<{ requestId: string }> {
      // A retry of a keyed request whose process died before storing its answer: the request it made.
      const key = opts.idempotencyKey ?? null;
      const earlier = key === null ? undefined : await findTokenRequestByIdempotencyKey(k, merchantId, key);
      if (earlier) return { requestId: earlier.id };
      const p = await prepare(merchantId, input);
      const now = deps.now();
      const id = randomUUID();
      const payloadCt = await deps.vault.encrypt(
        merchantId,
        JSON.stringify({ card: p.card, network: p.network, cvv: p.cvv, accountId: p.accountId, email: p.email }),
        requestAad(id),
      );
      await k.transaction().execute(async (trx) => {
        await insertTokenRequest(trx, {
          id,
          merchant_id: merchantId,
          correlation_id: correlationId,
          status: 'PENDING',
          source: p.source,
          payload_ct: payloadCt,
          token_id: null,
          error_code: null,
          error_message: null,
          created_at: now,
          completed_at: null,
          idempotency_key: key,
        });
        await enqueueJob(trx, { task: TASK_CREATE_ASYNC, payload: { requestId: id }, maxAttempts: ASYNC_TSP_ATTEMPTS }, now);
      });
      deps.nudge();
      return { requestId: id };
    },

    /** The job of an async request: TSP, then the result and its notification in one transaction. */
    async processAsync(payload: unknown, job: JobRow): Promise<void> {
      const { requestId } = payload as { requestId: string };
      const r = await findTokenRequestById(k, requestId);
      if (!r || r.status !== 'PENDING' || !r.payload_ct) return;
      await deps.audit.record({ tenantId: r.merchant_id, operation: 'network_token.create_async', reason: 'asynchronous network tokenization', subject: `request:${r.id}` });
      const data = JSON.parse(await deps.vault.decrypt(r.merchant_id, r.payload_ct, requestAad(r.id))) as Omit<Prepared, 'source'>;
      let outcome: Outcome;
      try {
        outcome = await provision(r.merchant_id, { ...data, source: r.source as CofSource });
      } catch (err) {
        const t = transient(err);
        // Transient: let the queue retry with backoff, until the last attempt reports the failure.
        if (!t || job.attempts < job.max_attempts) throw err;
        outcome = t;
      }
      const now = deps.now();
      let queued = false;
      await k.transaction().execute(async (trx) => {
        const done = await completeTokenRequest(trx, r.id, {
          status: outcome.ok ? 'SUCCEEDED' : 'FAILED',
          token_id: outcome.ok ? outcome.view.tokenId : null,
          error_code: outcome.ok ? null : outcome.code,
          error_message: outcome.ok ? null : outcome.message,
          completed_at: now,
        });
        if (!done) return;
        const body = outcome.ok
          ? { requestId: r.id, merchantId: r.merchant_id, ...outcome.view }
          : { requestId: r.id, merchantId: r.merchant_id, errorCode: outcome.code, message: outcome.message };
        queued = await notify(trx, r.merchant_id, outcome.ok ? 'token.created' : 'token.creation_failed', body, r.correlation_id);
      });
      if (queued) deps.nudge();
    },

    /**
     * One record of a batch: the TSP, asked with the record's id as its request id (so a repeat
     * after a crash gets the token the first call got). Tessera's token row is handed back, not
     * written: `storeBatchTokens` writes it with the record's result, in one commit. Declines and
     * transient faults (`rate_limited`, `tsp_unavailable`) come back as values.
     */
    async provisionForBatch(merchantId: string, p: Prepared, requestId: string): Promise<Outcome & { row?: NetworkTokenRow }> {
      try {
        return await provision(merchantId, p, requestId, true);
      } catch (err) {
        const t = transient(err);
        if (!t) throw err;
        return t;
      }
    },

    /**
     * Writes the token rows `provisionForBatch` handed back, in the caller's transaction (the one that
     * commits the records' results). A token already stored (the TSP handed back one it had issued,
     * or a record's earlier attempt stored it) is kept as it is. Returns how many rows were created,
     * and the ids of tokens another merchant holds (never expected: the caller fails those records).
     */
    async storeBatchTokens(trx: Executor, rows: NetworkTokenRow[]): Promise<{ created: number; foreign: Set<string> }> {
      let created = 0;
      const foreign = new Set<string>();
      const inserted = await insertNetworkTokens(deps.db.engine, trx, rows);
      for (const row of rows) {
        if (inserted.delete(row.id)) created++;
        else if (!(await findNetworkToken(trx, row.merchant_id, row.id))) foreign.add(row.id);
      }
      return { created, foreign };
    },

    /** Counts network tokens whose rows a batch transaction committed. */
    countCreated(n: number): void {
      if (n > 0) deps.metrics?.tokenCreated('network', n);
    },

    /** `GET /cof/v1/async-tokens/:requestId`: the notification's body, plus `requestStatus`. */
    async getRequest(merchantId: string, requestId: string): Promise<AsyncRequestView & { requestStatus: 'PENDING' | 'SUCCEEDED' | 'FAILED' }> {
      const r = await findTokenRequest(k, merchantId, requestId);
      if (!r) throw new TesseraError('request_not_found', 'No such token request.', 'requestId');
      const token = r.token_id ? await findNetworkToken(k, merchantId, r.token_id) : undefined;
      return { ...requestView(r, token), requestStatus: r.status as 'PENDING' | 'SUCCEEDED' | 'FAILED' };
    },

    /**
     * Asks the TSP for a network token for a card already in the vault (an order's background
     * upgrade of a permanent token). Unsupported networks and missing cardholder data throw their
     * 400s; declines are values; transient TSP faults throw.
     */
    async provisionCard(merchantId: string, card: Card): Promise<{ ok: true; tokenId: string } | { ok: false; code: ErrorCode }> {
      const network = networkOf(card.pan, 'token');
      requireNetworkFields(network, {});
      const outcome = await provision(merchantId, { card, network, source: 'ON_FILE' });
      return outcome.ok ? { ok: true, tokenId: outcome.view.tokenId } : { ok: false, code: outcome.code };
    },

    async get(merchantId: string, tokenId: string): Promise<NetworkTokenView> {
      const row = await findNetworkToken(k, merchantId, tokenId);
      if (!row) throw new TesseraError('token_not_found', 'No such network token.', 'tokenId');
      return viewOf(row);
    },

    /** Suspend, resume or delete, at the TSP first; the change is notified (unchanged states are not). */
    async change(merchantId: string, tokenId: string, action: LifecycleAction, correlationId: string): Promise<NetworkTokenView> {
      const row = await findNetworkToken(k, merchantId, tokenId);
      if (!row) throw new TesseraError('token_not_found', 'No such network token.', 'tokenId');
      let result;
      try {
        result = await deps.tsp.changeState(merchantId, tokenId, action);
      } catch (err) {
        const t = transient(err);
        if (t && !t.ok) throw new TesseraError(t.code, t.message, undefined, t.retryAfterS);
        throw err;
      }
      if (!result.ok) {
        if (result.reason === 'not_found') throw new TesseraError('token_not_found', 'No such network token.', 'tokenId');
        throw new TesseraError('token_inactive', result.message, 'tokenId');
      }
      const reason = { suspend: 'MERCHANT_SUSPENDED', resume: 'MERCHANT_RESUMED', delete: 'MERCHANT_DELETED' }[action];
      return viewOf(await applyState(row, result.token, reason, correlationId));
    },

    /** Hears the TSP's issuer-side changes (idempotent: a repeated event changes and notifies nothing). */
    async onTspEvent(event: TokenLifecycleEvent): Promise<void> {
      const row = await findNetworkToken(k, event.merchantId, event.token.tokenRef);
      if (row) await applyState(row, event.token, event.reason, randomUUID());
    },
  };
  return service;
}

export type NetworkTokenService = ReturnType<typeof createNetworkTokenService>;
