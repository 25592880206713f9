import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { apiKeyHook, correlationHook } from '../cof-auth.ts';
import { assertCaller } from '../../services/network-tokens.ts';
import {
  AsyncAccepted,
  AsyncTokenResult,
  CofError,
  CorrelationHeaders,
  CreateTokenBody,
  Jwks,
  MerchantIdParams,
  MerchantPatchBody,
  MerchantSettings,
  NetworkToken,
  RequestIdParams,
  TokenIdParams,
  Transaction,
  TransactionBody,
} from '../schemas/cof.ts';

const security = [{ cofApiKey: [] }];
const tags = ['network tokens'];
const errors = { 400: CofError, 401: CofError, 404: CofError, 429: CofError, 503: CofError };

/** The network tokenization face (`/cof/v1`), Thales merchant tokenization style. */
export const cofRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const { auth, merchants, networkTokens, networkTransactions } = deps.services;

    root.withTypeProvider<TypeBoxTypeProvider>().get(
      '/keys',
      { schema: { tags, summary: "Tessera's public encryption keys (JWKS): encrypt encryptedData to the first", response: { 200: Jwks } } },
      async () => deps.keys.jwks(),
    );

    await root.register(async (scoped) => {
      const app = scoped.withTypeProvider<TypeBoxTypeProvider>();
      app.addHook('onRequest', apiKeyHook(auth));
      app.addHook('onRequest', correlationHook);
      const headers = CorrelationHeaders;

      app.patch(
        '/merchants/:merchantId',
        { schema: { tags, summary: 'Register the notification URL and your RSA public keys (JWKS)', security, headers, params: MerchantIdParams, body: MerchantPatchBody, response: { 200: MerchantSettings, ...errors } } },
        async (request) => {
          assertCaller(request.merchantId, request.params.merchantId);
          return merchants.update(request.merchantId, request.body);
        },
      );

      app.post(
        '/tokens',
        { schema: { tags, summary: 'Create a network token (synchronous)', security, headers, body: CreateTokenBody, response: { 201: NetworkToken, 402: CofError, ...errors } } },
        async (request, reply) => reply.code(201).send(await networkTokens.create(request.merchantId, request.body)),
      );

      app.post(
        '/async-tokens',
        {
          schema: {
            tags,
            summary: 'Create a network token asynchronously: the result is notified to your notificationUrl (with this x-correlation-id)',
            security,
            headers,
            body: CreateTokenBody,
            response: { 202: AsyncAccepted, ...errors },
          },
        },
        async (request, reply) => reply.code(202).send(await networkTokens.createAsync(request.merchantId, request.body, request.correlationId, { idempotencyKey: request.idempotencyKey })),
      );

      app.get(
        '/async-tokens/:requestId',
        { schema: { tags, summary: 'Read the result of an async token request', security, headers, params: RequestIdParams, response: { 200: AsyncTokenResult, ...errors } } },
        async (request) => networkTokens.getRequest(request.merchantId, request.params.requestId),
      );

      app.get(
        '/tokens/:tokenId',
        { schema: { tags, summary: "A network token's metadata and state", security, headers, params: TokenIdParams, response: { 200: NetworkToken, ...errors } } },
        async (request) => networkTokens.get(request.merchantId, request.params.tokenId),
      );

      for (const action of ['suspend', 'resume'] as const) {
        app.post(
          `/tokens/:tokenId/${action}`,
          { schema: { tags, summary: `${action === 'suspend' ? 'Suspend' : 'Resume'} a network token (notified)`, security, headers, params: TokenIdParams, response: { 200: NetworkToken, 409: CofError, ...errors } } },
          async (request) => networkTokens.change(request.merchantId, request.params.tokenId, action, request.correlationId),
        );
      }

      app.delete(
        '/tokens/:tokenId',
        { schema: { tags, summary: 'Delete a network token (final; notified)', security, headers, params: TokenIdParams, response: { 200: NetworkToken, ...errors } } },
        async (request) => networkTokens.change(request.merchantId, request.params.tokenId, 'delete', request.correlationId),
      );

      app.post(
        '/transactions',
        {
          schema: {
            tags,
            summary: 'Payment credentials for one transaction (token PAN, expiry, single-use cryptogram), encrypted to your key',
            security,
            headers,
            body: TransactionBody,
            response: { 201: Transaction, 409: CofError, ...errors },
          },
        },
        async (request, reply) => reply.code(201).send(await networkTransactions.create(request.merchantId, request.body)),
      );
    });
  };
