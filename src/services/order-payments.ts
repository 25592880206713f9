import type { Logger } from 'pino';
import type { Card } from '../domain/card.ts';
import { isDeclineCode, TesseraError, type DeclineCode } from '../domain/errors.ts';
import { TspRateLimitedError, TspUnavailableError, type Acquirer, type TokenAuthorizationRequest, type TokenAuthorizationResult, type TokenServiceProvider } from '../domain/network.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { enqueueJob, type JobRow } from '../storage/repos/jobs.ts';
import { finishUpgrade, insertUpgrade } from '../storage/repos/network-token-upgrades.ts';
import { listStalePayments, settleOrderPayment, type OrderRow } from '../storage/repos/orders.ts';
import { findTokenByHash } from '../storage/repos/tokens.ts';
import type { Vault } from '../vault/vault.ts';
import type { NetworkTokenService } from './network-tokens.ts';
import { tokenAad } from './tokens.ts';
import type { AuditService } from './audit.ts';

/**
 * How an order is paid. Glossary: the *credential* is what goes to the network — the card's own
 * number (`pan`) or, when the card has an active network token, the token PAN with a fresh
 * single-use cryptogram (`network_token`). A permanent vault token without a network token gets
 * one asked for in the background (an *upgrade*), so later payments use it.
 */
export const TASK_RECONCILE_PAYMENTS = 'orders.reconcile_payments';
/** A payment still `pending` this long after it started has lost its request: the reconciler settles it. */
export const STALE_PAYMENT_MS = 120_000;
export const TASK_NETWORK_UPGRADE = 'orders.network_token_upgrade';

/** The network's side of a payment with a token PAN and cryptogram (the sandbox TSP's acquirer face). */
export interface NetworkAuthorizer {
  /**
   * Authorizes and captures in one call, recorded under `reference` (one per reference, as
   * `Acquirer.sale`), so a payment whose answer was lost is found by the order's reference. A
   * token-level refusal (reason not a decline code) records nothing.
   */
  sale(req: TokenAuthorizationRequest & { reference: string }): Promise<TokenAuthorizationResult>;
}

export interface OrderPaymentDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  acquirer: Acquirer;
  tsp: TokenServiceProvider;
  network: NetworkAuthorizer;
  networkTokens: NetworkTokenService;
  log: Logger;
  now: () => number;
  /** How often the reconciler looks for interrupted payments. Default 60 s. */
  reconcileIntervalMs?: number;
}

export type Credential = 'network_token' | 'pan';

export type PaymentResult =
  | { status: 'captured'; authorizationId: string; credential: Credential }
  | { status: 'declined'; reason: DeclineCode; authorizationId: string | null; credential: Credential };

export interface PaymentRequest {
  merchantId: string;
  orderId: string;
  /** The acquirer idempotency reference of this payment. */
  reference: string;
  /** The card and its CVC, decrypted when the PAN is used (only then). */
  card: () => Promise<{ card: Card; cvc: string | undefined }>;
  /** Minor units. */
  amount: number;
  currency: string;
  /** The card's network token, when it has an active one. */
  networkTokenId: string | null;
}

/**
 * What a permanent token's card pays with: its newest network token if that one is active. With
 * none at all (and none asked for yet), `upgrade` says to ask for one in the order's transaction.
 * `nt`: the merchant's newest network token for the card (`findPayingToken` reads it with the token).
 */
export function networkTokenChoice(nt: { id: string; status: string } | undefined, upgradeAsked: boolean): { tokenId: string | null; upgrade: boolean } {
  if (nt) return { tokenId: nt.status === 'ACTIVE' ? nt.id : null, upgrade: false };
  return { tokenId: null, upgrade: !upgradeAsked };
}

export function createOrderPaymentService(deps: OrderPaymentDeps) {
  const k = deps.db.kysely;

  /** Token PAN + cryptogram. Undefined when the token cannot pay (suspended, deleted, TSP down): fall back to the PAN. */
  async function viaNetworkToken(req: PaymentRequest, tokenId: string): Promise<PaymentResult | undefined> {
    let crypto;
    try {
      crypto = await deps.tsp.createCryptogram({ merchantId: req.merchantId, tokenRef: tokenId, transactionType: 'SINGLE' });
    } catch (err) {
      if (err instanceof TspUnavailableError || err instanceof TspRateLimitedError) return undefined;
      throw err;
    }
    if (!crypto.ok) return undefined;
    const c = crypto.credentials;
    // One sale under the order's payment reference, as over the PAN: a crash after it leaves a
    // record the reconciler finds by that reference (and voids), with no write to the order before.
    const auth = await deps.network.sale({
      merchantId: req.merchantId,
      reference: req.reference,
      tokenPan: c.tokenPan,
      tokenExpiryDate: c.tokenExpiryDate,
      cryptogram: c.cryptogram,
      amount: req.amount,
      currency: req.currency,
    });
    if (auth.status === 'declined') {
      // A card decline is the issuer's answer; a token-level refusal (inactive, bad cryptogram) is not: use the PAN.
      return auth.reason && isDeclineCode(auth.reason) ? { status: 'declined', reason: auth.reason, authorizationId: auth.authorizationId, credential: 'network_token' } : undefined;
    }
    return { status: 'captured', authorizationId: auth.authorizationId!, credential: 'network_token' };
  }

  async function reverse(order: OrderRow): Promise<void> {
    if (!order.payment_reference) return;
    // Every payment is found by its reference; an order whose payment started before network-token
    // payments were one sale may instead hold its authorization (recorded under `cof:<cryptogram id>`).
    if (order.authorization_id) await deps.acquirer.void(order.authorization_id);
    else {
      const record = await deps.acquirer.findByReference(order.merchant_id, order.payment_reference);
      if (record && record.status !== 'declined') await deps.acquirer.void(record.id);
    }
    await settleOrderPayment(k, order.id, { payment_status: 'failed', decline_code: 'processing_error', updated_at: deps.now() });
    deps.log.warn({ order: order.id }, 'payment interrupted: reversed, order left unpaid');
  }

  return {
    /**
     * Authorize and capture `amount`: with the network token when there is an active one, else the
     * PAN — as one sale (authorize + capture in one acquirer call, recorded under the order's
     * payment reference, so a crash after it leaves a record the reconciler finds and voids).
     */
    async pay(req: PaymentRequest): Promise<PaymentResult> {
      if (req.networkTokenId) {
        const viaToken = await viaNetworkToken(req, req.networkTokenId);
        if (viaToken) return viaToken;
      }
      const { card, cvc } = await req.card();
      const auth = await deps.acquirer.sale({
        merchantId: req.merchantId,
        reference: req.reference,
        card,
        cvc,
        amount: req.amount,
        currency: req.currency,
      });
      if (auth.status === 'declined') return { status: 'declined', reason: auth.reason, authorizationId: auth.authorizationId, credential: 'pan' };
      return { status: 'captured', authorizationId: auth.authorizationId, credential: 'pan' };
    },

    /** Asks for a network token in the background (once per card), in the caller's transaction. */
    async requestUpgrade(trx: Executor, merchantId: string, tokenHash: string, fingerprint: string, now: number): Promise<void> {
      const fresh = await insertUpgrade(trx, { merchant_id: merchantId, fingerprint, status: 'pending', network_token_id: null, reason: null, updated_at: now });
      if (fresh) {
        await enqueueJob(trx, { task: TASK_NETWORK_UPGRADE, payload: { merchantId, tokenHash, fingerprint }, uniqueKey: `nt-upgrade:${merchantId}:${fingerprint}`, maxAttempts: 5 }, now);
      }
    },

    /** The upgrade job: the TSP issues (or declines) a network token for the permanent token's card. */
    async upgrade(payload: unknown, job: JobRow): Promise<void> {
      const { merchantId, tokenHash, fingerprint } = payload as { merchantId: string; tokenHash: string; fingerprint: string };
      const finish = (status: string, tokenId: string | null, reason: string | null) =>
        finishUpgrade(k, merchantId, fingerprint, { status, network_token_id: tokenId, reason, updated_at: deps.now() });
      const token = await findTokenByHash(k, tokenHash);
      if (!token?.card_ct || token.deleted_at !== null) return finish('ineligible', null, 'token_deleted');
      await deps.audit.record({ tenantId: merchantId, operation: 'network_token.upgrade', reason: 'ask the network for a token for the card of a permanent vault token', subject: `token_sha256:${tokenHash.slice(0, 16)}` });
      const card = await deps.vault.decryptCard(merchantId, token.card_ct, tokenAad(tokenHash));
      try {
        const outcome = await deps.networkTokens.provisionCard(merchantId, card);
        await (outcome.ok ? finish('issued', outcome.tokenId, null) : finish('ineligible', null, outcome.code));
      } catch (err) {
        if (err instanceof TesseraError) return finish('ineligible', null, err.code);
        // Transient (TSP down or throttling): retried by the queue; after the last attempt, given up.
        if (job.attempts >= job.max_attempts) await finish('ineligible', null, 'tsp_unavailable');
        throw err;
      }
    },

    /**
     * The safety net of payments whose request died between the acquirer and the order's update
     * (the order row, written `pending` before the acquirer is called, is the durable marker; the
     * recurring job scans for old ones): whatever the acquirer holds is voided, so the customer is
     * not charged for an order that does not say `paid`, and the order stays `created`.
     */
    async reconcileStale(): Promise<{ rescheduleAt: number }> {
      const now = deps.now();
      for (const order of await listStalePayments(k, now - STALE_PAYMENT_MS, 100)) await reverse(order);
      return { rescheduleAt: now + (deps.reconcileIntervalMs ?? 60_000) };
    },

    /** Makes sure the recurring reconciler is scheduled (idempotent). */
    async scheduleReconcile(): Promise<void> {
      const now = deps.now();
      await enqueueJob(k, { task: TASK_RECONCILE_PAYMENTS, payload: {}, uniqueKey: TASK_RECONCILE_PAYMENTS, runAt: now }, now);
    },
  };
}

export type OrderPaymentService = ReturnType<typeof createOrderPaymentService>;
