import type { Card } from '../domain/card.ts';
import { TesseraError, type DeclineCode } from '../domain/errors.ts';
import { toMajor } from '../domain/money.ts';
import { priceItems, statusAfterRefund, toMinor, validateCurrency, type OrderLine, type OrderStatus } from '../domain/orders.ts';
import { randomPooled } from '../domain/random.ts';
import { newObjectId, tokenTypeOf, type TokenType } from '../domain/tokens.ts';
import type { Acquirer } from '../domain/network.ts';
import { isUniqueViolation, type Db } from '../storage/database.ts';
import { deleteJobByKey, enqueueJob } from '../storage/repos/jobs.ts';
import { completeRefund, findOrder, findOrderById, findOrderByIdempotencyKey, findRefund, insertOrder, insertRefund, listOrders, lockOrder, settleOrderPaid, settleOrderPayment, startOrderPayment, updateOrder, type OrderRefundRow, type OrderRow } from '../storage/repos/orders.ts';
import { findPayingToken, useTemporaryToken } from '../storage/repos/tokens.ts';
import { sha256Hex } from '../vault/master-key.ts';
import type { Vault } from '../vault/vault.ts';
import type { CustomerService } from './customers.ts';
import { validateNotificationUrl } from './merchants.ts';
import { networkTokenChoice, type OrderPaymentService } from './order-payments.ts';
import { tokenAad, tokenCvcAad } from './tokens.ts';
import { orderView, refundView, type InstallmentOptions, type OrderView, type RefundView } from './order-views.ts';
import type { WebhookService } from './webhooks.ts';
import type { AuditService } from './audit.ts';

export const TASK_REFUND = 'orders.refund';
/** A refund not settled by its request after this long is settled by its job. */
const SAFETY_NET_MS = 120_000;

export interface OrderServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  acquirer: Acquirer;
  payments: OrderPaymentService;
  webhooks: WebhookService;
  customers: CustomerService;
  now: () => number;
  nudge: () => void;
  /** Where Tessera is reached from outside: the base of `pay_link`. */
  publicUrl: string;
}

/** The body of `POST /api/orders` (amounts in decimal major units). */
export interface CreateOrderInput {
  customer_id?: string | undefined;
  currency: string;
  items: { name: string; quantity: number; price: number }[];
  notify_url?: string | undefined;
  redirect_url?: string | undefined;
  token?: string | undefined;
  /** Plans the hosted payment page offers (months 3, 6, 9, 12, 18). */
  installment_options?: { installments: number[]; fixed_installments?: boolean | undefined } | undefined;
}

/** A declined payment is an expected outcome: the order exists (`created`) and the decline is a value. */
export type CreateOrderOutcome = { ok: true; order: OrderView } | { ok: false; decline: DeclineCode; order: OrderView };

/** The vault token an order pays with, resolved and decrypted before the order's transaction. */
interface PayingToken {
  hash: string;
  type: TokenType;
  /** The card (and CVC), decrypted on first use: a payment over the network token never needs them. */
  card: () => Promise<{ card: Card; cvc: string | undefined }>;
  brand: string;
  last4: string;
  installments: number | null;
  fixedInstallments: number | null;
  networkTokenId: string | null;
  upgrade: { fingerprint: string } | null;
}

function orderNumber(): string {
  // 10 digits: unique per merchant by constraint, and random so numbers do not reveal volumes.
  return String(1_000_000_000 + (randomPooled(4).readUInt32BE() % 9_000_000_000)).padStart(10, '0');
}

/**
 * A payment's idempotency reference at the acquirer. Time-ordered (as object ids are): the
 * acquirer's index of references then grows at its end, not on a random page per payment.
 */
function paymentReference(now: number): string {
  return 'pay_' + newObjectId(now);
}

export function createOrderService(deps: OrderServiceDeps) {
  const k = deps.db.kysely;
  const view = (row: OrderRow) => orderView(row, deps.publicUrl);

  async function payingToken(merchantId: string, token: string, now: number): Promise<PayingToken> {
    const type = tokenTypeOf(token);
    const hash = sha256Hex(token);
    const row = type ? await findPayingToken(deps.db.engine, k, merchantId, hash) : undefined;
    // Another merchant's token, a deleted one, or a permanent one still being validated: no such token.
    if (!type || !row || row.validation_status === 'pending') throw new TesseraError('token_not_found', 'No such token.', 'token');
    if (row.expires_at !== null && row.expires_at <= now) throw new TesseraError('token_expired', 'The temporary token has expired.', 'token');
    if (row.used_at !== null) throw new TesseraError('token_already_used', 'The temporary token was already used for a payment: create a new one.', 'token');
    if (!row.card_ct) throw new TesseraError('token_expired', 'The token no longer holds card data.', 'token');
    await deps.audit.record({ tenantId: merchantId, operation: 'order.pay', reason: `pay an order with a ${type} vault token`, subject: `token_sha256:${hash.slice(0, 16)}` });
    const nt = type === 'permanent' ? networkTokenChoice(row.nt_id !== null && row.nt_status !== null ? { id: row.nt_id, status: row.nt_status } : undefined, Boolean(row.upgrade_asked)) : { tokenId: null, upgrade: false };
    // The card and CVC are decrypted once, when first needed. Over the PAN that is now, before the
    // order exists (a card that cannot be read fails the request, not a pending payment); over the
    // network token, only if the payment falls back to the PAN.
    const { card_ct: cardCt, cvc_ct: cvcCt } = row;
    let card: Promise<{ card: Card; cvc: string | undefined }> | undefined;
    const readCard = () =>
      (card ??= (async () => ({
        card: await deps.vault.decryptCard(merchantId, cardCt, tokenAad(hash)),
        cvc: cvcCt ? await deps.vault.decrypt(merchantId, cvcCt, tokenCvcAad(hash)) : undefined,
      }))());
    if (nt.tokenId === null) await readCard();
    return {
      hash,
      type,
      card: readCard,
      brand: row.brand,
      last4: row.last4,
      installments: row.installments,
      fixedInstallments: row.fixed_installments,
      networkTokenId: nt.tokenId,
      upgrade: nt.upgrade ? { fingerprint: row.fingerprint } : null,
    };
  }

  async function own(merchantId: string, id: string): Promise<OrderRow> {
    const row = await findOrder(k, merchantId, id);
    if (!row) throw new TesseraError('order_not_found', 'No such order.', 'id');
    return row;
  }

  /** Sends a refund to the acquirer and marks it done (the request, or its job after a crash). */
  async function settleRefund(refund: OrderRefundRow, authorizationId: string): Promise<void> {
    await deps.acquirer.refund(authorizationId, refund.id, refund.amount);
    await k.transaction().execute(async (trx) => {
      await completeRefund(trx, refund.id, deps.now());
      await deleteJobByKey(trx, `refund:${refund.id}`);
    });
  }

  /** Authorize + capture for an order whose payment is `pending`, then settle it (paid, or declined and left `created`). */
  async function payAndSettle(merchantId: string, row: OrderRow, paying: PayingToken, subs: Awaited<ReturnType<WebhookService['subscriptions']>>): Promise<CreateOrderOutcome> {
    const result = await deps.payments.pay({
      merchantId,
      orderId: row.id,
      reference: row.payment_reference!,
      card: paying.card,
      amount: row.total,
      currency: row.currency,
      networkTokenId: paying.networkTokenId,
    });
    const after = deps.now();
    const settled: OrderRow =
      result.status === 'captured'
        ? { ...row, status: 'paid', payment_status: 'captured', authorization_id: result.authorizationId, credential: result.credential, captured_amount: row.total, paid_at: after, updated_at: after }
        : { ...row, payment_status: 'declined', authorization_id: result.authorizationId, credential: result.credential, decline_code: result.reason, updated_at: after };
    // One view for the webhooks and the answer.
    const data = view(settled);
    let queued = 0;
    await k.transaction().execute(async (trx) => {
      // Only the columns a settlement changes: an UPDATE that sets an indexed column rewrites its index entries.
      const won =
        result.status === 'captured'
          ? await settleOrderPaid(deps.db.engine, trx, row.id, { authorization_id: result.authorizationId, credential: result.credential, captured_amount: row.total, paid_at: after })
          : await settleOrderPayment(trx, row.id, { payment_status: 'declined', authorization_id: result.authorizationId, credential: result.credential, decline_code: result.reason, updated_at: after });
      if (!won) return;
      if (result.status !== 'captured') return;
      queued += await deps.webhooks.emit(trx, subs, merchantId, 'orders.confirmation', data);
      queued += await deps.webhooks.emit(trx, subs, merchantId, 'orders.update', data, row.notify_url);
    });
    if (queued > 0) deps.nudge();
    return result.status === 'captured' ? { ok: true, order: data } : { ok: false, decline: result.reason, order: data };
  }

  return {
    async create(merchantId: string, input: CreateOrderInput, opts: { idempotencyKey?: string | undefined } = {}): Promise<CreateOrderOutcome> {
      const now = deps.now();
      // A retry of a keyed request whose process died before storing its answer (the idempotency
      // layer lets it through only then): the order it created is the outcome, never a second one.
      const key = opts.idempotencyKey ?? null;
      const earlier = key === null ? undefined : await findOrderByIdempotencyKey(k, merchantId, key);
      if (earlier) {
        return earlier.payment_status === 'declined' && earlier.decline_code
          ? { ok: false, decline: earlier.decline_code as DeclineCode, order: view(earlier) }
          : { ok: true, order: view(earlier) };
      }
      const currency = validateCurrency(input.currency);
      const { lines, totals } = priceItems(input.items);
      const notifyUrl = input.notify_url === undefined ? null : validateNotificationUrl(input.notify_url, 'notify_url');
      const redirectUrl = input.redirect_url === undefined ? null : validateNotificationUrl(input.redirect_url, 'redirect_url');
      if (input.customer_id !== undefined) {
        await deps.customers.get(merchantId, input.customer_id).catch((err: unknown) => {
          throw err instanceof TesseraError && err.code === 'customer_not_found' ? new TesseraError('customer_not_found', 'No such customer.', 'customer_id') : err;
        });
      }
      const paying = input.token === undefined ? undefined : await payingToken(merchantId, input.token, now);

      const row: OrderRow = {
        id: newObjectId(now),
        merchant_id: merchantId,
        number: orderNumber(),
        customer_id: input.customer_id ?? null,
        currency,
        status: 'created',
        items: JSON.stringify(lines satisfies OrderLine[]),
        subtotal: totals.subtotal,
        total: totals.total,
        notify_url: notifyUrl,
        redirect_url: redirectUrl,
        installments: paying?.installments ?? null,
        fixed_installments: paying?.fixedInstallments ?? null,
        token_type: paying?.type ?? null,
        brand: paying?.brand ?? null,
        last4: paying?.last4 ?? null,
        payment_status: paying ? 'pending' : null,
        payment_reference: paying ? paymentReference(now) : null,
        authorization_id: null,
        credential: null,
        decline_code: null,
        captured_amount: 0,
        refunded_amount: 0,
        created_at: now,
        updated_at: now,
        paid_at: null,
        installment_options: input.installment_options
          ? JSON.stringify({ installments: [...input.installment_options.installments].sort((a, b) => a - b), fixed_installments: input.installment_options.fixed_installments ?? false })
          : null,
        idempotency_key: key,
      };
      const subs = await deps.webhooks.subscriptions(merchantId);
      let queued = 0;
      for (let attempt = 1; ; attempt++) {
        try {
          queued = 0;
          await k.transaction().execute(async (trx) => {
            await insertOrder(deps.db.engine, trx, row);
            if (paying) {
              if (paying.type === 'temporary' && !(await useTemporaryToken(trx, paying.hash, now))) {
                throw new TesseraError('token_already_used', 'The temporary token was already used for a payment: create a new one.', 'token');
              }
              if (paying.upgrade) await deps.payments.requestUpgrade(trx, merchantId, paying.hash, paying.upgrade.fingerprint, now);
            }
            queued += await deps.webhooks.emit(trx, subs, merchantId, 'orders.create', () => view(row));
          });
          break;
        } catch (err) {
          // The number is random and unique per merchant: at tens of thousands of orders two draws
          // meet now and then (birthday bound), which is not the caller's fault. Draw again.
          if (attempt < 5 && isUniqueViolation(err) && /number/.test(String((err as Error).message))) {
            row.number = orderNumber();
            continue;
          }
          throw err;
        }
      }
      if (queued > 0 || paying?.upgrade) deps.nudge();
      if (!paying) return { ok: true, order: view(row) };
      return payAndSettle(merchantId, row, paying, subs);
    },

    /**
     * Pays an unpaid order (`created`, no payment in flight) with a vault token: the hosted
     * payment page's path. The token's installment plan must be one the order offers.
     */
    async pay(merchantId: string, id: string, token: string): Promise<CreateOrderOutcome> {
      const now = deps.now();
      const order = await own(merchantId, id);
      const paying = await payingToken(merchantId, token, now);
      if (paying.installments !== null) {
        const offered = order.installment_options ? (JSON.parse(order.installment_options) as InstallmentOptions) : null;
        const fixed = paying.fixedInstallments === 1;
        if (!offered || !offered.installments.includes(paying.installments) || offered.fixed_installments !== fixed) {
          throw new TesseraError('invalid_installments', 'installments must be one of the plans the order offers.', 'installments');
        }
      }
      const patch = {
        installments: paying.installments,
        fixed_installments: paying.fixedInstallments,
        token_type: paying.type,
        brand: paying.brand,
        last4: paying.last4,
        payment_status: 'pending',
        payment_reference: paymentReference(now),
        authorization_id: null,
        credential: null,
        decline_code: null,
        updated_at: now,
      };
      await k.transaction().execute(async (trx) => {
        if (!(await startOrderPayment(trx, merchantId, id, patch))) {
          throw new TesseraError('order_not_payable', order.status === 'created' ? 'A payment of this order is in progress.' : `The order is ${order.status}.`, 'id');
        }
        if (paying.type === 'temporary' && !(await useTemporaryToken(trx, paying.hash, now))) {
          throw new TesseraError('token_already_used', 'The temporary token was already used for a payment: create a new one.', 'token');
        }
        if (paying.upgrade) await deps.payments.requestUpgrade(trx, merchantId, paying.hash, paying.upgrade.fingerprint, now);
      });
      if (paying.upgrade) deps.nudge();
      return payAndSettle(merchantId, { ...order, ...patch }, paying, await deps.webhooks.subscriptions(merchantId));
    },

    async get(merchantId: string, id: string): Promise<OrderView> {
      return view(await own(merchantId, id));
    },

    async list(merchantId: string, q: { status?: OrderStatus | undefined; limit?: number | undefined; cursor?: string | undefined }) {
      const limit = q.limit ?? 20;
      let before: { createdAt: number; id: string } | undefined;
      if (q.cursor !== undefined) {
        const m = /^(\d{1,16})_([0-9a-f]{24})$/.exec(Buffer.from(q.cursor, 'base64url').toString('utf8'));
        if (!m) throw new TesseraError('invalid_field', 'cursor is not a cursor this API returned.', 'cursor');
        before = { createdAt: Number(m[1]), id: m[2]! };
      }
      const rows = await listOrders(k, merchantId, { status: q.status, limit: limit + 1, before });
      const page = rows.slice(0, limit);
      const last = page[page.length - 1];
      const next = rows.length > limit && last ? Buffer.from(`${last.created_at}_${last.id}`).toString('base64url') : null;
      return { data: page.map(view), next_cursor: next };
    },

    /** Full (no amount) or partial refund; the amount is reserved on the order before the acquirer is called. */
    async refund(merchantId: string, id: string, input: { amount?: number | undefined }): Promise<{ refund: RefundView; order: OrderView }> {
      const now = deps.now();
      const subs = await deps.webhooks.subscriptions(merchantId);
      let refund!: OrderRefundRow;
      let updated!: OrderRow;
      let queued = 0;
      await k.transaction().execute(async (trx) => {
        const o = await lockOrder(deps.db, trx, merchantId, id);
        if (!o) throw new TesseraError('order_not_found', 'No such order.', 'id');
        if ((o.status !== 'paid' && o.status !== 'partially_refunded') || !o.authorization_id) {
          throw new TesseraError('order_not_refundable', o.status === 'refunded' ? 'The order is already fully refunded.' : 'Only a paid order can be refunded.', 'id');
        }
        const left = o.captured_amount - o.refunded_amount;
        const amount = input.amount === undefined ? left : toMinor(input.amount, 'amount');
        if (amount > left) {
          throw new TesseraError('invalid_amount', `amount is more than what is left to refund (${toMajor(left)} ${o.currency}).`, 'amount');
        }
        refund = { id: 're_' + randomPooled(12).toString('hex'), order_id: o.id, merchant_id: merchantId, amount, status: 'pending', created_at: now, completed_at: null };
        const status = statusAfterRefund(o.captured_amount, o.refunded_amount + amount);
        updated = { ...o, refunded_amount: o.refunded_amount + amount, status, updated_at: now };
        await insertRefund(trx, refund);
        await updateOrder(trx, o.id, { refunded_amount: updated.refunded_amount, status, updated_at: now });
        await enqueueJob(trx, { task: TASK_REFUND, payload: { refundId: refund.id }, runAt: now + SAFETY_NET_MS, uniqueKey: `refund:${refund.id}` }, now);
        const data = view(updated);
        queued += await deps.webhooks.emit(trx, subs, merchantId, 'orders.refund', { ...data, refund: refundView(refund) });
        if (status !== o.status) queued += await deps.webhooks.emit(trx, subs, merchantId, 'orders.update', data, o.notify_url);
      });
      if (queued > 0) deps.nudge();
      await settleRefund(refund, updated.authorization_id!);
      return { refund: refundView({ ...refund, status: 'succeeded', completed_at: deps.now() }), order: view(updated) };
    },

    /** The refund job: finishes a refund whose request died after reserving it. */
    async resumeRefund(payload: unknown): Promise<void> {
      const { refundId } = payload as { refundId: string };
      const refund = await findRefund(k, refundId);
      if (!refund || refund.status !== 'pending') return;
      const order = await findOrder(k, refund.merchant_id, refund.order_id);
      if (order?.authorization_id) await settleRefund(refund, order.authorization_id);
    },

    /** The hosted payment page's view of an order (by id alone: the id is the link's secret), with its merchant. */
    async forPayPage(id: string): Promise<{ merchantId: string; order: OrderView } | undefined> {
      const row = /^[0-9a-f]{24}$/.test(id) ? await findOrderById(k, id) : undefined;
      return row ? { merchantId: row.merchant_id, order: view(row) } : undefined;
    },
  };
}

export type OrderService = ReturnType<typeof createOrderService>;
