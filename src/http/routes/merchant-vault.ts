import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TesseraError } from '../../domain/errors.ts';
import type { CardRow } from '../../storage/repos/cards.ts';
import type { CustomerRow } from '../../storage/repos/customers.ts';
import type { Deps } from '../../deps.ts';
import { basicCredentials, merchantJwtHook } from '../merchant-auth.ts';
import {
  AuthorizationTokenResponse,
  CardBody,
  CardParams,
  Customer,
  CustomerBody,
  Deleted,
  ErrorBody,
  IdParams,
  SavedCard,
  TokenBody,
  TokenCreated,
  TokenMetadata,
  TokenParams,
} from '../schemas/merchant.ts';
import { Type } from 'typebox';

const errors = { 400: ErrorBody, 401: ErrorBody, 404: ErrorBody };
const jwt = [{ merchantJwt: [] }];

function customerView(c: CustomerRow) {
  return { id: c.id, first_name: c.first_name, last_name: c.last_name, email: c.email, phone: c.phone, created_at: new Date(c.created_at).toISOString() };
}

function cardView(c: CardRow) {
  return {
    id: c.id,
    customer_id: c.customer_id ?? '',
    brand: c.brand,
    last4: c.last4,
    exp_month: c.exp_month,
    exp_year: c.exp_year,
    fingerprint: c.fingerprint.slice(0, 32),
    created_at: new Date(c.created_at).toISOString(),
  };
}

/** The merchant vault face (`/api`), Ecart Pay style. */
export const merchantVaultRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { auth, customers, tokens } = deps.services;

    app.post(
      '/authorizations/token',
      {
        schema: {
          tags: ['merchant vault'],
          summary: 'Exchange a key pair for an authorization token (one hour)',
          security: [{ merchantKeys: [] }],
          response: { 200: AuthorizationTokenResponse, 401: ErrorBody },
        },
      },
      async (request) => {
        const { publicKey, privateKey } = basicCredentials(request);
        const { token } = await auth.issueToken(publicKey, privateKey);
        return { token };
      },
    );

    await app.register(async (scoped) => {
      const api = scoped.withTypeProvider<TypeBoxTypeProvider>();
      api.addHook('preHandler', merchantJwtHook(auth));

      api.post(
        '/customers',
        { schema: { tags: ['customers'], summary: 'Create a customer', security: jwt, body: CustomerBody, response: { 201: Customer, ...errors } } },
        async (request, reply) => {
          const customer = await customers.create(request.merchantId, request.body);
          return reply.code(201).send(customerView(customer));
        },
      );

      api.get(
        '/customers/:id',
        { schema: { tags: ['customers'], summary: 'Read a customer', security: jwt, params: IdParams, response: { 200: Customer, ...errors } } },
        async (request) => customerView(await customers.get(request.merchantId, request.params.id)),
      );

      api.post(
        '/customers/:id/cards',
        {
          schema: {
            tags: ['customers'],
            summary: 'Save a card for a customer (the same card again returns the existing one)',
            security: jwt,
            params: IdParams,
            body: CardBody,
            response: { 200: SavedCard, 201: SavedCard, ...errors },
          },
        },
        async (request, reply) => {
          const { card, created } = await customers.addCard(request.merchantId, request.params.id, request.body);
          return reply.code(created ? 201 : 200).send(cardView(card));
        },
      );

      api.get(
        '/customers/:id/cards',
        {
          schema: {
            tags: ['customers'],
            summary: "List a customer's saved cards",
            security: jwt,
            params: IdParams,
            response: { 200: Type.Object({ data: Type.Array(SavedCard) }), ...errors },
          },
        },
        async (request) => ({ data: (await customers.listCards(request.merchantId, request.params.id)).map(cardView) }),
      );

      api.delete(
        '/customers/:id/cards/:cardId',
        {
          schema: { tags: ['customers'], summary: 'Delete a saved card', security: jwt, params: CardParams, response: { 200: Deleted, ...errors } },
        },
        async (request) => {
          await customers.deleteCard(request.merchantId, request.params.id, request.params.cardId);
          return { id: request.params.cardId, deleted: true };
        },
      );

      api.post(
        '/tokens',
        {
          schema: {
            tags: ['tokens'],
            summary: 'Create a tokenized card (temporary, or permanent after a validation hold)',
            security: jwt,
            body: TokenBody,
            response: { 201: TokenCreated, 402: ErrorBody, ...errors },
          },
        },
        async (request, reply) => {
          const outcome = await tokens.create(request.merchantId, request.body);
          if (!outcome.ok) throw new TesseraError(outcome.decline, declineMessage(outcome.decline));
          return reply.code(201).send({ token: outcome.token });
        },
      );

      api.get(
        '/tokens/:token',
        {
          schema: {
            tags: ['tokens'],
            summary: "A token's metadata (never the card number)",
            security: jwt,
            params: TokenParams,
            response: { 200: TokenMetadata, 410: ErrorBody, ...errors },
          },
        },
        async (request) => tokens.get(request.merchantId, request.params.token),
      );

      api.delete(
        '/tokens/:token',
        {
          schema: { tags: ['tokens'], summary: 'Delete a token', security: jwt, params: TokenParams, response: { 200: Deleted, 410: ErrorBody, ...errors } },
        },
        async (request) => {
          await tokens.delete(request.merchantId, request.params.token);
          return { id: request.params.token, deleted: true };
        },
      );
    });
  };

const DECLINE_MESSAGES: Record<string, string> = {
  card_declined: 'The card was declined.',
  insufficient_funds: 'The card has insufficient funds.',
  lost_card: 'The card was declined (reported lost).',
  stolen_card: 'The card was declined (reported stolen).',
  expired_card: 'The card has expired.',
  incorrect_cvc: 'The card security code is incorrect.',
  processing_error: 'The card could not be processed. Try again.',
  authentication_required: 'The issuer requires cardholder authentication.',
};

/** The merchant face's message for a decline code (also used by orders). */
export function declineMessage(code: string): string {
  return DECLINE_MESSAGES[code] ?? 'The card was declined.';
}
