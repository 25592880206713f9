import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { bearerHook } from '../issuer-auth.ts';
import {
  BankingError,
  CardBody,
  CardParams,
  ConsumerAnswer,
  ConsumerBody,
  ConsumerParams,
  EcJwks,
  EnrolmentBody,
  IssuerCard,
  IssuerParams,
  IssuerToken,
  IssuerTokens,
  IssuerTransaction,
  Operation,
  OperationParams,
  Operations,
  TokenParams,
} from '../schemas/banking.ts';
import { cardView } from '../../services/issuer-cards.ts';
import { bankingBatchRoutes } from './banking-batch.ts';

const security = [{ issuerBearer: [] }];
const tags = ['issuers'];
const errors = { 400: BankingError, 401: BankingError, 404: BankingError, 429: BankingError, 503: BankingError };

/** The issuer face (`/banking/v1`), Thales D1 style. */
export const bankingRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const { issuers, issuerCards, issuerTokens, clickToPay } = deps.services;

    root.withTypeProvider<TypeBoxTypeProvider>().get(
      '/keys',
      { schema: { tags, summary: "Tessera's EC P-256 encryption keys (JWKS) for issuers' JWEs (ECDH-ES + A256GCM)", response: { 200: EcJwks } } },
      async () => deps.issuerKeys.jwks(),
    );

    await root.register(
      async (scoped) => {
        const app = scoped.withTypeProvider<TypeBoxTypeProvider>();
        app.addHook('onRequest', bearerHook(issuers));

        app.put(
          '/consumers/:consumerId',
          { schema: { tags, summary: 'Create or replace a consumer (email and phone are needed for Click to Pay)', security, params: ConsumerParams, body: ConsumerBody, response: { 200: ConsumerAnswer, 201: ConsumerAnswer, ...errors } } },
          async (request, reply) => {
            const { created } = await issuerCards.putConsumer(request.issuerId, request.params.consumerId, request.body.personalInformation);
            return reply.code(created ? 201 : 200).send({ consumerId: request.params.consumerId });
          },
        );

        app.put(
          '/cards/:cardId',
          { schema: { tags, summary: "Register or replace a consumer's card (JWE of {pan, exp})", security, params: CardParams, body: CardBody, response: { 200: IssuerCard, 201: IssuerCard, ...errors } } },
          async (request, reply) => {
            const { created, view } = await issuerCards.putCard(request.issuerId, request.params.cardId, request.body);
            return reply.code(created ? 201 : 200).send(view);
          },
        );

        app.get(
          '/cards/:cardId',
          { schema: { tags, summary: 'A registered card (never its number)', security, params: CardParams, response: { 200: IssuerCard, ...errors } } },
          async (request) => cardView(await issuerCards.getCard(request.issuerId, request.params.cardId)),
        );

        app.post(
          '/cards/:cardId/tokens',
          { schema: { tags, summary: 'eCom enablement: a network token for the card, through the TSP (notified)', security, params: CardParams, response: { 201: IssuerToken, 402: BankingError, ...errors } } },
          async (request, reply) => reply.code(201).send(await issuerTokens.create(request.issuerId, request.params.cardId)),
        );

        app.get(
          '/cards/:cardId/tokens',
          { schema: { tags, summary: "The card's tokens (eCom and Click to Pay)", security, params: CardParams, response: { 200: IssuerTokens, ...errors } } },
          async (request) => issuerTokens.list(request.issuerId, request.params.cardId),
        );

        app.get(
          '/tokens/:tokenId',
          { schema: { tags, summary: "A token's state", security, params: TokenParams, response: { 200: IssuerToken, ...errors } } },
          async (request) => issuerTokens.get(request.issuerId, request.params.tokenId),
        );

        for (const action of ['suspend', 'resume'] as const) {
          app.post(
            `/tokens/:tokenId/${action}`,
            { schema: { tags, summary: `${action === 'suspend' ? 'Suspend' : 'Resume'} a token (notified)`, security, params: TokenParams, response: { 200: IssuerToken, 409: BankingError, ...errors } } },
            async (request) => issuerTokens.change(request.issuerId, request.params.tokenId, action),
          );
        }

        app.delete(
          '/tokens/:tokenId',
          { schema: { tags, summary: 'Delete a token (final; notified)', security, params: TokenParams, response: { 200: IssuerToken, 409: BankingError, ...errors } } },
          async (request) => issuerTokens.change(request.issuerId, request.params.tokenId, 'delete'),
        );

        app.post(
          '/tokens/:tokenId/transactions',
          {
            schema: {
              tags,
              summary: 'CNP credentials for one payment (token PAN, expiry, single-use cryptogram), encrypted to your `enc` key',
              security,
              params: TokenParams,
              response: { 201: IssuerTransaction, 409: BankingError, ...errors },
            },
          },
          async (request, reply) => reply.code(201).send(await issuerTokens.transaction(request.issuerId, request.params.tokenId)),
        );

        // `operations:clickToPayEnrolment` is one path segment: `::` is find-my-way's escaped colon.
        app.post(
          '/cards/:cardId/operations::clickToPayEnrolment',
          {
            schema: {
              tags,
              summary: 'Enrol the card (and, the first time, its consumer) in Click to Pay: asynchronous, 202 PENDING; an enrolled card answers 200 with its operation',
              security,
              params: CardParams,
              body: EnrolmentBody,
              response: { 200: Operation, 202: Operation, ...errors },
            },
          },
          async (request, reply) => {
            const { created, view } = await clickToPay.request(request.issuerId, request.params.cardId, request.body ?? {});
            return reply.code(created || view.status === 'PENDING' ? 202 : 200).send(view);
          },
        );

        app.get(
          '/cards/:cardId/operations',
          { schema: { tags, summary: "The card's operations, newest first", security, params: CardParams, response: { 200: Operations, ...errors } } },
          async (request) => clickToPay.list(request.issuerId, request.params.cardId),
        );

        app.get(
          '/cards/:cardId/operations/:operationId',
          { schema: { tags, summary: 'One operation', security, params: OperationParams, response: { 200: Operation, ...errors } } },
          async (request) => clickToPay.get(request.issuerId, request.params.cardId, request.params.operationId),
        );

        await scoped.register(bankingBatchRoutes(deps));
      },
      { prefix: '/issuers/:issuerId' },
    );
  };
