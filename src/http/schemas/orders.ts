import { Type, type Static } from 'typebox';
import { WEBHOOK_EVENTS } from '../../domain/orders.ts';

/**
 * Schemas of orders, refunds and webhooks (merchant face), written once. Amounts are decimal major
 * units with at most two decimals (`150.50`); the two-decimal, currency and total rules live in
 * `src/domain/orders.ts` so they answer `invalid_amount` / `invalid_currency` with the field at fault.
 */
const Amount = Type.Number({ description: 'Decimal major units, at most two decimals (e.g. 150.50).' });
const Status = Type.Union([Type.Literal('created'), Type.Literal('paid'), Type.Literal('refunded'), Type.Literal('partially_refunded')]);
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const OrderItemBody = Type.Object(
  {
    name: Type.String({ maxLength: 200 }),
    quantity: Type.Integer({ description: 'A whole number from 1 to 100000.' }),
    price: Amount,
  },
  { additionalProperties: false },
);

/** Installment plans the hosted payment page offers the customer (besides a single payment). */
export const InstallmentOptions = Type.Object(
  {
    installments: Type.Array(Type.Union([Type.Literal(3), Type.Literal(6), Type.Literal(9), Type.Literal(12), Type.Literal(18)]), {
      minItems: 1,
      maxItems: 5,
      uniqueItems: true,
      description: 'Months the customer may choose from: 3, 6, 9, 12, 18.',
    }),
    fixed_installments: Type.Optional(Type.Boolean({ description: '`true`: fixed installments (deferred payments); default `false`: interest-free.' })),
  },
  { additionalProperties: false, description: 'Offered on the hosted payment page (`pay_link`); the choice is recorded in `installments`.' },
);

export const OrderBody = Type.Object(
  {
    customer_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    currency: Type.String({ minLength: 1, maxLength: 8, description: 'ISO 4217, two-decimal currencies (MXN, USD, EUR…).' }),
    items: Type.Array(OrderItemBody, { description: '1 to 100 lines.' }),
    notify_url: Type.Optional(Type.String({ maxLength: 2048, description: 'Gets a signed POST `{event: "orders.update", data}` on each status change.' })),
    redirect_url: Type.Optional(Type.String({ maxLength: 2048 })),
    token: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'A vault token: the order is paid at once (authorize + capture) with its installment settings.' }),
    ),
    installment_options: Type.Optional(InstallmentOptions),
  },
  { additionalProperties: false },
);
export type OrderBody = Static<typeof OrderBody>;

export const Order = Type.Object(
  {
    id: Type.String(),
    number: Type.String(),
    status: Status,
    currency: Type.String(),
    customer_id: Nullable(Type.String()),
    items: Type.Array(Type.Object({ name: Type.String(), quantity: Type.Integer(), price: Type.Number(), total: Type.Number() })),
    totals: Type.Object({ subtotal: Type.Number(), total: Type.Number(), captured: Type.Number(), refunded: Type.Number() }),
    pay_link: Nullable(Type.String({ description: "Tessera's hosted payment page while the order is unpaid." })),
    redirect_url: Nullable(Type.String()),
    notify_url: Nullable(Type.String()),
    installments: Nullable(Type.Integer()),
    fixed_installments: Type.Boolean(),
    installment_options: Nullable(Type.Object({ installments: Type.Array(Type.Integer()), fixed_installments: Type.Boolean() })),
    payment: Nullable(
      Type.Object({
        status: Type.String({ description: '`pending`, `captured`, `declined`, or `failed` (interrupted and reversed).' }),
        credential: Nullable(Type.Union([Type.Literal('network_token'), Type.Literal('pan')])),
        token_type: Nullable(Type.String()),
        brand: Nullable(Type.String()),
        last4: Nullable(Type.String()),
        amount: Type.Number(),
        authorization_id: Nullable(Type.String()),
        decline_code: Nullable(Type.String()),
      }),
    ),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    paid_at: Nullable(Type.String({ format: 'date-time' })),
  },
);

export const OrderList = Type.Object({ data: Type.Array(Order), next_cursor: Nullable(Type.String()) });

export const OrderListQuery = Type.Object(
  {
    status: Type.Optional(Status),
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100. Default 20.' })),
    cursor: Type.Optional(Type.String({ maxLength: 128, description: '`next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);

export const RefundBody = Type.Object(
  { amount: Type.Optional(Type.Number({ description: 'Decimal major units; default: all that is left of the capture.' })) },
  { additionalProperties: false },
);

export const RefundCreated = Type.Object({
  refund: Type.Object({
    id: Type.String(),
    order_id: Type.String(),
    amount: Type.Number(),
    status: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    completed_at: Nullable(Type.String({ format: 'date-time' })),
  }),
  order: Order,
});

export const WebhookBody = Type.Object(
  {
    url: Type.String({ maxLength: 2048, description: 'An http(s) URL.' }),
    events: Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16, description: `Any of ${WEBHOOK_EVENTS.join(', ')}.` }),
  },
  { additionalProperties: false },
);

export const Webhook = Type.Object({
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  created_at: Type.String({ format: 'date-time' }),
});

export const Delivery = Type.Object({
  id: Type.String({ description: 'Also the `x-pay-webhook-id` header: the same on every attempt.' }),
  event: Type.String(),
  url: Type.String(),
  status: Type.String({ description: '`pending`, `delivered`, `dead`.' }),
  attempts: Type.Integer(),
  last_status: Nullable(Type.Integer()),
  last_error: Nullable(Type.String()),
  next_attempt_at: Nullable(Type.String({ format: 'date-time' })),
  created_at: Type.String({ format: 'date-time' }),
  completed_at: Nullable(Type.String({ format: 'date-time' })),
  attempt_log: Type.Array(
    Type.Object({
      attempt: Type.Integer(),
      started_at: Type.String({ format: 'date-time' }),
      duration_ms: Type.Integer(),
      status_code: Nullable(Type.Integer()),
      error: Nullable(Type.String()),
      outcome: Type.String(),
    }),
  ),
});

export const DeliveryParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), deliveryId: Type.String({ minLength: 1, maxLength: 64 }) });
