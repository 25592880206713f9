import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { assertNoPan, brandOf, validateCard, validateCvc, validateExpiry, type BrandInfo, type Card } from '../domain/card.ts';
import { TesseraError, type DeclineCode } from '../domain/errors.ts';
import { VALIDATION_FINAL_AMOUNT, VALIDATION_HOLD } from '../domain/money.ts';
import type { Acquirer } from '../domain/network.ts';
import {
  newPermanentToken,
  newTemporaryToken,
  tokenTypeOf,
  validateInstallments,
  type TokenType,
  type ValidationStatus,
} from '../domain/tokens.ts';
import type { Db } from '../storage/database.ts';
import { BatchedInserter } from '../storage/batched-insert.ts';
import type { ServiceMetrics } from '../observability/metrics.ts';
import type { JobRow } from '../storage/repos/jobs.ts';
import { deleteJobByKey, enqueueJob, rescheduleJobByKey } from '../storage/repos/jobs.ts';
import { eraseLapsedCvcs, setCardCvc } from '../storage/repos/cards.ts';
import {
  deleteToken,
  findToken,
  findTokenByHash,
  insertToken,
  insertTokens,
  purgeExpiredTokens,
  removeToken,
  updateToken,
  type TokenRow,
} from '../storage/repos/tokens.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { sha256Hex } from '../vault/master-key.ts';
import type { Vault } from '../vault/vault.ts';
import { cardAad, cardCvcAad, type CustomerService } from './customers.ts';
import type { AuditService } from './audit.ts';

export const TASK_RELEASE_HOLD = 'tokens.release_validation_hold';
export const TASK_PURGE_EXPIRED = 'tokens.purge_expired';

/** How long an expired temporary token's row (without its card data) stays to answer `token_expired`. */
const EXPIRED_GRACE_MS = 24 * 3600_000;
/** If a permanent tokenization dies mid-way, its hold is reconciled (voided) after this long. */
const HOLD_SAFETY_NET_MS = 120_000;

export interface TokenServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  acquirer: Acquirer;
  customers: CustomerService;
  log: Logger;
  now: () => number;
  /** Wakes the in-process worker after jobs were committed. */
  nudge: () => void;
  tempTokenTtlMs: number;
  purgeIntervalMs: number;
  retryMaxAttempts: number;
  /** Merchant webhook events (`tokens.create`, `tokens.validation`), queued in the change's transaction. Default none. */
  events?: TokenEvents;
  /** Counts tokens created and validation holds by outcome. Default none. */
  metrics?: Pick<ServiceMetrics, 'tokenCreated' | 'validationHold'>;
}

export interface TokenEvents {
  /** Queues the event in `trx`; returns how many deliveries were queued (nudge after commit). */
  emit(trx: Executor, merchantId: string, event: 'tokens.create' | 'tokens.validation', data: unknown): Promise<number>;
  /** Whether anyone listens for the event (cheap, may lag other processes' changes by a second). */
  listens(merchantId: string, event: 'tokens.create' | 'tokens.validation'): Promise<boolean>;
}

/** The body of `POST /api/tokens` (the Ecart Pay contract). */
export interface TokenRequest {
  id?: string | undefined;
  number?: unknown;
  name?: unknown;
  exp_month?: unknown;
  exp_year?: unknown;
  cvc?: unknown;
  tokenization?: boolean | undefined;
  installments?: unknown;
  fixed_installments?: unknown;
  source?: string | undefined;
}

/** A declined validation hold is an expected outcome, not a fault. */
export type CreateTokenOutcome = { ok: true; token: string; type: TokenType } | { ok: false; decline: DeclineCode };

export interface TokenView {
  token: string;
  type: TokenType;
  brand: string;
  last4: string;
  exp_month: string;
  exp_year: string;
  expires_at: string | null;
  installments: number | null;
  fixed_installments: boolean | null;
  source: string | null;
  card_id: string | null;
  created_at: string;
  validation?: {
    status: ValidationStatus;
    amount: number;
    final_amount: number;
    currency: string;
    updated_at: string | null;
    error?: string;
  };
}

export const tokenAad = (hash: string) => `token:${hash}`;
export const tokenCvcAad = (hash: string) => `token-cvc:${hash}`;

interface ResolvedCard {
  card: Card;
  info: BrandInfo;
  cvc: string | undefined;
  cardId: string | null;
  /** The saved card's pending CVC was used and must be erased with this tokenization. */
  consumesSavedCvc: boolean;
}

export function createTokenService(deps: TokenServiceDeps) {
  const k = deps.db.kysely;
  // Temporary tokens are the hot path: concurrent ones share one commit.
  const tokenWriter = new BatchedInserter(k, insertTokens);

  async function resolveCard(merchantId: string, req: TokenRequest, now: number): Promise<ResolvedCard> {
    const hasRaw = req.number !== undefined || req.name !== undefined || req.exp_month !== undefined || req.exp_year !== undefined;
    if (req.id !== undefined) {
      if (hasRaw) throw new TesseraError('invalid_request', 'Send either a saved card id or card details, not both.', 'id');
      const saved = await deps.customers.findCard(merchantId, req.id);
      await deps.audit.record({ tenantId: merchantId, operation: 'token.create', reason: 'tokenize a saved card (a permanent token is validated by a hold)', subject: `card:${saved.id}` });
      const card = await deps.vault.decryptCard(merchantId, saved.card_ct, cardAad(saved.id));
      const info = brandOf(card.pan);
      validateExpiry(card.expMonth, card.expYear, new Date(now));
      if (req.cvc !== undefined) return { card, info, cvc: validateCvc(req.cvc, info), cardId: saved.id, consumesSavedCvc: false };
      if (saved.cvc_ct && (saved.cvc_expires_at ?? 0) > now) {
        const cvc = await deps.vault.decrypt(merchantId, saved.cvc_ct, cardCvcAad(saved.id));
        return { card, info, cvc, cardId: saved.id, consumesSavedCvc: true };
      }
      return { card, info, cvc: undefined, cardId: saved.id, consumesSavedCvc: false };
    }
    const { card, info } = validateCard(req, new Date(now));
    if (req.cvc === undefined || req.cvc === null) {
      throw new TesseraError('missing_field', 'cvc is required when card details are sent.', 'cvc');
    }
    return { card, info, cvc: validateCvc(req.cvc, info), cardId: null, consumesSavedCvc: false };
  }

  async function baseRow(merchantId: string, type: TokenType, hash: string, r: ResolvedCard, req: TokenRequest, now: number) {
    const plan = validateInstallments(req.installments, req.fixed_installments);
    const fingerprint = await deps.vault.panFingerprint(merchantId, r.card.pan);
    const row: TokenRow = {
      token_hash: hash,
      merchant_id: merchantId,
      type,
      card_id: r.cardId,
      card_ct: await deps.vault.encryptCard(merchantId, r.card, tokenAad(hash)),
      cvc_ct: null,
      brand: r.info.brand,
      last4: r.card.pan.slice(-4),
      exp_month: r.card.expMonth,
      exp_year: r.card.expYear,
      fingerprint,
      installments: plan.installments,
      fixed_installments: plan.fixedInstallments === null ? null : plan.fixedInstallments ? 1 : 0,
      source: req.source ?? null,
      expires_at: null,
      validation_status: null,
      validation_reference: null,
      validation_amount: null,
      validation_currency: null,
      validation_error: null,
      validation_updated_at: null,
      used_at: null,
      created_at: now,
      deleted_at: null,
    };
    return row;
  }

  async function createTemporary(merchantId: string, req: TokenRequest, r: ResolvedCard, now: number): Promise<CreateTokenOutcome> {
    const token = newTemporaryToken();
    const hash = sha256Hex(token);
    const row = await baseRow(merchantId, 'temporary', hash, r, req, now);
    row.expires_at = now + deps.tempTokenTtlMs;
    // The CVC waits, encrypted, for the payment this token is for; it goes with the token.
    if (r.cvc !== undefined) row.cvc_ct = await deps.vault.encrypt(merchantId, r.cvc, tokenCvcAad(hash));
    const announce = deps.events ? await deps.events.listens(merchantId, 'tokens.create') : false;
    if ((r.consumesSavedCvc && r.cardId) || announce) {
      const cardId = r.consumesSavedCvc ? r.cardId : null;
      const queued = await k.transaction().execute(async (trx) => {
        await insertToken(trx, row);
        if (cardId) await setCardCvc(trx, cardId, null, null);
        return announce ? emit(trx, 'tokens.create', row) : 0;
      });
      if (queued > 0) deps.nudge();
    } else {
      await tokenWriter.insert(row);
    }
    deps.metrics?.tokenCreated('temporary');
    return { ok: true, token, type: 'temporary' };
  }

  /**
   * Permanent tokenization with a validation hold. The token row (pending) and a safety-net job
   * commit before the acquirer is called, so a crash at any point leaves a job that voids the hold.
   */
  async function createPermanent(merchantId: string, req: TokenRequest, r: ResolvedCard, now: number): Promise<CreateTokenOutcome> {
    const token = newPermanentToken();
    const hash = sha256Hex(token);
    const reference = 'val_' + randomBytes(12).toString('hex');
    const row = await baseRow(merchantId, 'permanent', hash, r, req, now);
    Object.assign(row, {
      validation_status: 'pending',
      validation_reference: reference,
      validation_amount: VALIDATION_HOLD.amount,
      validation_currency: VALIDATION_HOLD.currency,
      validation_updated_at: now,
    });
    const jobKey = `hold:${hash}`;
    await k.transaction().execute(async (trx) => {
      await insertToken(trx, row);
      if (r.consumesSavedCvc && r.cardId) await setCardCvc(trx, r.cardId, null, null);
      await enqueueJob(
        trx,
        {
          task: TASK_RELEASE_HOLD,
          payload: { tokenHash: hash, merchantId, reference },
          runAt: now + HOLD_SAFETY_NET_MS,
          maxAttempts: deps.retryMaxAttempts,
          uniqueKey: jobKey,
        },
        now,
      );
    });
    const result = await deps.acquirer.authorize({
      merchantId,
      reference,
      card: r.card,
      cvc: r.cvc,
      amount: VALIDATION_HOLD.amount,
      currency: VALIDATION_HOLD.currency,
    });
    const after = deps.now();
    if (result.status === 'declined') {
      await k.transaction().execute(async (trx) => {
        await removeToken(trx, hash);
        await deleteJobByKey(trx, jobKey);
      });
      deps.metrics?.validationHold('declined');
      return { ok: false, decline: result.reason };
    }
    await k.transaction().execute(async (trx) => {
      await updateToken(trx, hash, { validation_status: 'held', validation_updated_at: after });
      await rescheduleJobByKey(trx, jobKey, after);
      await emit(trx, 'tokens.create', { ...row, validation_status: 'held', validation_updated_at: after });
    });
    deps.nudge();
    deps.metrics?.validationHold('held');
    deps.metrics?.tokenCreated('permanent');
    return { ok: true, token, type: 'permanent' };
  }

  /** Queues a token event (never the token itself: its SHA-256 lets the merchant match it). */
  async function emit(trx: Executor, event: 'tokens.create' | 'tokens.validation', row: TokenRow): Promise<number> {
    if (!deps.events) return 0;
    const { token: _token, ...data } = view('', row);
    return deps.events.emit(trx, row.merchant_id, event, { ...data, token_sha256: row.token_hash });
  }

  /** Records the outcome of a validation hold and tells the merchant's webhooks. */
  async function settleValidation(row: TokenRow, patch: { validation_status: 'released' | 'failed'; validation_error: string | null }): Promise<void> {
    const updated = { ...row, ...patch, validation_updated_at: deps.now() };
    const queued = await k.transaction().execute(async (trx) => {
      await updateToken(trx, row.token_hash, { ...patch, validation_updated_at: updated.validation_updated_at });
      return emit(trx, 'tokens.validation', updated);
    });
    if (queued > 0) deps.nudge();
    deps.metrics?.validationHold(patch.validation_status);
  }

  async function ownToken(merchantId: string, token: string): Promise<TokenRow> {
    if (tokenTypeOf(token) === undefined) throw new TesseraError('token_not_found', 'No such token.', 'token');
    const row = await findToken(k, merchantId, sha256Hex(token));
    // A permanent token whose hold is still pending was never handed out.
    if (!row || row.validation_status === 'pending') throw new TesseraError('token_not_found', 'No such token.', 'token');
    if (row.expires_at !== null && row.expires_at <= deps.now()) {
      throw new TesseraError('token_expired', 'The temporary token has expired.', 'token');
    }
    return row;
  }

  return {
    async create(merchantId: string, req: TokenRequest): Promise<CreateTokenOutcome> {
      const now = deps.now();
      // Cheap checks first: these fail before any vault or database work.
      validateInstallments(req.installments, req.fixed_installments);
      assertNoPan(req.source, 'source');
      const resolved = await resolveCard(merchantId, req, now);
      const permanent = req.tokenization === true || (req.source === 'one_click_checkout' && req.id !== undefined);
      return permanent ? createPermanent(merchantId, req, resolved, now) : createTemporary(merchantId, req, resolved, now);
    },

    async get(merchantId: string, token: string): Promise<TokenView> {
      return view(token, await ownToken(merchantId, token));
    },

    async delete(merchantId: string, token: string): Promise<void> {
      await ownToken(merchantId, token);
      await deleteToken(k, merchantId, sha256Hex(token), deps.now());
    },

    /**
     * The background half of a validation hold: finalize at $0.01, then void. Also the safety net
     * for a tokenization that died after (or while) placing the hold: it voids what it finds.
     */
    async releaseValidationHold(payload: unknown, job: JobRow): Promise<void> {
      const { tokenHash, merchantId, reference } = payload as { tokenHash: string; merchantId: string; reference: string };
      const auth = await deps.acquirer.findByReference(merchantId, reference);
      const row = await findTokenByHash(k, tokenHash);
      if (!auth || auth.status === 'declined') {
        if (row?.validation_status === 'pending') await removeToken(k, tokenHash);
        return;
      }
      if (!row || row.validation_status === 'pending') {
        // The request never handed the token out: release the hold and forget the token.
        if (auth.status !== 'voided') await deps.acquirer.void(auth.id);
        if (row) await removeToken(k, tokenHash);
        return;
      }
      if (row.validation_status === 'released') return;
      try {
        if (auth.status === 'authorized') await deps.acquirer.capture(auth.id, VALIDATION_FINAL_AMOUNT);
        if (auth.status !== 'voided') await deps.acquirer.void(auth.id);
        await settleValidation(row, { validation_status: 'released', validation_error: null });
      } catch (err) {
        if (job.attempts >= job.max_attempts) {
          const message = err instanceof Error ? err.message : String(err);
          await settleValidation(row, { validation_status: 'failed', validation_error: message.slice(0, 200) });
        }
        throw err;
      }
    },

    /** Recurring: erases expired temporary tokens' card data and lapsed pending CVCs. */
    async purgeExpired(): Promise<{ rescheduleAt: number }> {
      const now = deps.now();
      const tokens = await purgeExpiredTokens(k, now, EXPIRED_GRACE_MS);
      const cvcs = await eraseLapsedCvcs(k, now);
      if (tokens.erased + tokens.removed + cvcs > 0) deps.log.info({ ...tokens, cvcs }, 'purged expired vault data');
      return { rescheduleAt: now + deps.purgeIntervalMs };
    },

    /** Makes sure the recurring purge is scheduled (idempotent). */
    async schedulePurge(): Promise<void> {
      const now = deps.now();
      await enqueueJob(k, { task: TASK_PURGE_EXPIRED, payload: {}, uniqueKey: TASK_PURGE_EXPIRED, runAt: now }, now);
    },
  };
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function view(token: string, row: TokenRow): TokenView {
  const v: TokenView = {
    token,
    type: row.type as TokenType,
    brand: row.brand,
    last4: row.last4,
    exp_month: row.exp_month,
    exp_year: row.exp_year,
    expires_at: iso(row.expires_at),
    installments: row.installments,
    fixed_installments: row.fixed_installments === null ? null : row.fixed_installments === 1,
    source: row.source,
    card_id: row.card_id,
    created_at: new Date(row.created_at).toISOString(),
  };
  if (row.type === 'permanent') {
    v.validation = {
      status: row.validation_status as ValidationStatus,
      amount: (row.validation_amount ?? VALIDATION_HOLD.amount) / 100,
      final_amount: VALIDATION_FINAL_AMOUNT / 100,
      currency: row.validation_currency ?? VALIDATION_HOLD.currency,
      updated_at: iso(row.validation_updated_at),
    };
    if (row.validation_error) v.validation.error = row.validation_error;
  }
  return v;
}

export type TokenService = ReturnType<typeof createTokenService>;
