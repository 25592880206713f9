import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { TesseraError } from '../../domain/errors.ts';
import type { Deps } from '../../deps.ts';
import { merchantEnvelope } from '../errors.ts';
import { merchantJwtHook } from '../merchant-auth.ts';
import { declineMessage } from './merchant-vault.ts';
import { Deleted, ErrorBody, IdParams } from '../schemas/merchant.ts';
import { Delivery, DeliveryParams, Order, OrderBody, OrderList, OrderListQuery, RefundBody, RefundCreated, Webhook, WebhookBody } from '../schemas/orders.ts';

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody, 409: ErrorBody };
const security = [{ merchantJwt: [] }];

/** A declined payment: the merchant envelope plus the order it left `created`. */
const OrderDeclined = Type.Object({
  code: Type.String(),
  message: Type.String(),
  param: Type.Union([Type.String(), Type.Null()]),
  request_id: Type.String(),
  decline_code: Type.Optional(Type.String()),
  order: Order,
});

/** Orders, refunds and webhooks on the merchant face (`/api`). */
export const orderRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { auth, orders, webhooks } = deps.services;
    app.addHook('preHandler', merchantJwtHook(auth));

    app.post(
      '/orders',
      {
        schema: {
          tags: ['orders'],
          summary: 'Create an order; with a token it is paid at once (authorize + capture), over a network token when the card has one',
          security,
          body: OrderBody,
          response: { 201: Order, 402: OrderDeclined, 410: ErrorBody, ...errors },
        },
      },
      async (request, reply) => {
        const outcome = await orders.create(request.merchantId, request.body, { idempotencyKey: request.idempotencyKey });
        if (outcome.ok) return reply.code(201).send(outcome.order);
        const e = new TesseraError(outcome.decline, declineMessage(outcome.decline), 'token');
        return reply.code(402).send({ ...merchantEnvelope(e, request.id), order: outcome.order } as never);
      },
    );

    app.get(
      '/orders',
      { schema: { tags: ['orders'], summary: 'List orders, newest first', security, querystring: OrderListQuery, response: { 200: OrderList, ...errors } } },
      async (request) => {
        const q = request.query;
        return orders.list(request.merchantId, { status: q.status, limit: q.limit === undefined ? undefined : Number(q.limit), cursor: q.cursor });
      },
    );

    app.get(
      '/orders/:id',
      { schema: { tags: ['orders'], summary: 'Read an order', security, params: IdParams, response: { 200: Order, ...errors } } },
      async (request) => orders.get(request.merchantId, request.params.id),
    );

    app.post(
      '/orders/:id/refunds',
      {
        schema: {
          tags: ['orders'],
          summary: 'Refund a paid order, in full (no amount) or in part; never more than was captured',
          security,
          params: IdParams,
          body: RefundBody,
          response: { 201: RefundCreated, ...errors },
        },
        // No body at all is a full refund, as `{}` is.
        preValidation: async (request) => {
          if (request.body === undefined || request.body === null) request.body = {};
        },
      },
      async (request, reply) => reply.code(201).send(await orders.refund(request.merchantId, request.params.id, request.body)),
    );

    app.post(
      '/webhooks',
      { schema: { tags: ['webhooks'], summary: 'Subscribe a URL to events (signed with x-pay-signature)', security, body: WebhookBody, response: { 201: Webhook, ...errors } } },
      async (request, reply) => reply.code(201).send(await webhooks.create(request.merchantId, request.body)),
    );

    app.get(
      '/webhooks',
      { schema: { tags: ['webhooks'], summary: 'List webhooks', security, response: { 200: Type.Object({ data: Type.Array(Webhook) }), ...errors } } },
      async (request) => ({ data: await webhooks.list(request.merchantId) }),
    );

    app.delete(
      '/webhooks/:id',
      { schema: { tags: ['webhooks'], summary: 'Delete a webhook', security, params: IdParams, response: { 200: Deleted, ...errors } } },
      async (request) => {
        await webhooks.delete(request.merchantId, request.params.id);
        return { id: request.params.id, deleted: true };
      },
    );

    app.get(
      '/webhooks/:id/deliveries',
      {
        schema: {
          tags: ['webhooks'],
          summary: "A webhook's deliveries (newest first, 50) with every attempt",
          security,
          params: IdParams,
          response: { 200: Type.Object({ data: Type.Array(Delivery) }), ...errors },
        },
      },
      async (request) => ({ data: await webhooks.deliveries(request.merchantId, request.params.id) }),
    );

    app.post(
      '/webhooks/:id/deliveries/:deliveryId/retry',
      { schema: { tags: ['webhooks'], summary: 'Send a delivery again now', security, params: DeliveryParams, response: { 202: Delivery, ...errors } } },
      async (request, reply) => reply.code(202).send(await webhooks.retry(request.merchantId, request.params.id, request.params.deliveryId)),
    );
  };

/** The hosted payment page behind `pay_link` (issue 7): `src/http/routes/pay-page.ts`. */
export { payPageRoutes } from './pay-page.ts';
