import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { apiKeyHook, correlationHook } from '../cof-auth.ts';
import { CofError, CorrelationHeaders } from '../schemas/cof.ts';
import { BATCH_BODY_LIMIT, BatchChunkBody, BatchIdParams, BatchResults, BatchStatus, ResultsQuery } from '../schemas/batches.ts';

const security = [{ cofApiKey: [] }];
const tags = ['bulk tokenization'];
const errors = { 400: CofError, 401: CofError, 404: CofError, 409: CofError, 413: CofError };

/** Bulk tokenization (`/cof/v1/batches`): chunks in, per-record results out, fair across issuers. */
export const batchRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { auth, batches } = deps.services;
    app.addHook('onRequest', apiKeyHook(auth));
    app.addHook('onRequest', correlationHook);
    const headers = CorrelationHeaders;

    app.post(
      '/batches',
      {
        bodyLimit: BATCH_BODY_LIMIT,
        schema: {
          tags,
          summary: 'Append a chunk (≤ 10,000 records) to a batch; `last: true` closes it. Stored encrypted before the 202.',
          security,
          headers,
          body: BatchChunkBody,
          response: { 202: BatchStatus, ...errors },
        },
      },
      async (request, reply) => reply.code(202).send(await batches.submit(request.merchantId, request.body, request.correlationId)),
    );

    app.get(
      '/batches/:batchId',
      { schema: { tags, summary: "A batch's progress", security, headers, params: BatchIdParams, response: { 200: BatchStatus, ...errors } } },
      async (request) => batches.get(request.merchantId, request.params.batchId),
    );

    app.get(
      '/batches/:batchId/results',
      {
        schema: {
          tags,
          summary: 'One result per record, in batch order, a page at a time',
          security,
          headers,
          params: BatchIdParams,
          querystring: ResultsQuery,
          response: { 200: BatchResults, ...errors },
        },
      },
      async (request) => batches.results(request.merchantId, request.params.batchId, Number(request.query.limit ?? 100), request.query.cursor),
    );
  };
