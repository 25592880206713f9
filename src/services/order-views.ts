import { toMajorNumber, type OrderLine, type OrderStatus } from '../domain/orders.ts';
import type { OrderRefundRow, OrderRow } from '../storage/repos/orders.ts';

/** An order as the merchant API shows it: amounts in decimal major units, never card data beyond brand and last four. */
export interface OrderView {
  id: string;
  number: string;
  status: OrderStatus;
  currency: string;
  customer_id: string | null;
  items: { name: string; quantity: number; price: number; total: number }[];
  totals: { subtotal: number; total: number; captured: number; refunded: number };
  /** Tessera's hosted payment page while the order is unpaid; null once paid. */
  pay_link: string | null;
  redirect_url: string | null;
  notify_url: string | null;
  installments: number | null;
  fixed_installments: boolean;
  /** Plans the hosted payment page offers; null: a single payment only. */
  installment_options: InstallmentOptions | null;
  payment: PaymentView | null;
  created_at: string;
  updated_at: string;
  paid_at: string | null;
}

export interface InstallmentOptions {
  installments: number[];
  fixed_installments: boolean;
}

export interface PaymentView {
  /** `pending`, `captured`, `declined`, `failed` (interrupted and reversed). */
  status: string;
  credential: 'network_token' | 'pan' | null;
  token_type: string | null;
  brand: string | null;
  last4: string | null;
  amount: number;
  authorization_id: string | null;
  decline_code: string | null;
}

export interface RefundView {
  id: string;
  order_id: string;
  amount: number;
  status: string;
  created_at: string;
  completed_at: string | null;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function orderView(row: OrderRow, publicUrl: string): OrderView {
  const lines = JSON.parse(row.items) as OrderLine[];
  return {
    id: row.id,
    number: row.number,
    status: row.status as OrderStatus,
    currency: row.currency,
    customer_id: row.customer_id,
    items: lines.map((l) => ({ name: l.name, quantity: l.quantity, price: toMajorNumber(l.price), total: toMajorNumber(l.price * l.quantity) })),
    totals: {
      subtotal: toMajorNumber(row.subtotal),
      total: toMajorNumber(row.total),
      captured: toMajorNumber(row.captured_amount),
      refunded: toMajorNumber(row.refunded_amount),
    },
    pay_link: row.status === 'created' ? `${publicUrl}/pay/${row.id}` : null,
    redirect_url: row.redirect_url,
    notify_url: row.notify_url,
    installments: row.installments,
    fixed_installments: row.fixed_installments === 1,
    installment_options: row.installment_options ? (JSON.parse(row.installment_options) as InstallmentOptions) : null,
    payment:
      row.payment_status === null
        ? null
        : {
            status: row.payment_status,
            credential: row.credential as PaymentView['credential'],
            token_type: row.token_type,
            brand: row.brand,
            last4: row.last4,
            amount: toMajorNumber(row.total),
            authorization_id: row.authorization_id,
            decline_code: row.decline_code,
          },
    created_at: new Date(row.created_at).toISOString(),
    updated_at: new Date(row.updated_at).toISOString(),
    paid_at: iso(row.paid_at),
  };
}

export function refundView(r: OrderRefundRow): RefundView {
  return { id: r.id, order_id: r.order_id, amount: toMajorNumber(r.amount), status: r.status, created_at: new Date(r.created_at).toISOString(), completed_at: iso(r.completed_at) };
}
