import { Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { TesseraError } from '../../domain/errors.ts';
import { MAX_BATCH_BYTES } from '../../services/issuer-batch.ts';
import { BankingError, BATCH_BODY, BatchFile, BatchOutput, BatchParams, BatchQuery, BatchStatus, IssuerParams } from '../schemas/banking.ts';

const security = [{ issuerBearer: [] }];
const tags = ['issuers'];
const errors = { 400: BankingError, 401: BankingError, 404: BankingError };

/**
 * Batch files under `/banking/v1/issuers/:issuerId`. In this scope JSON bodies are not parsed by
 * Fastify: the request stream goes to the batch service, which reads it record by record.
 */
export const bankingBatchRoutes = (deps: Deps): FastifyPluginAsync =>
  async (scope) => {
    const app = scope.withTypeProvider<TypeBoxTypeProvider>();
    const { issuerBatches: batches } = deps.services;
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/json', (_request, payload, done) => done(null, payload));

    app.post(
      '/batch-files',
      {
        schema: {
          tags,
          summary: 'Send a batch file (consumers and cards; optional Click to Pay auto-enrolment): 202, then follow its progress',
          security,
          params: IssuerParams,
          description: BATCH_BODY,
          // Documents the file (OpenAPI, SDK types). The body here is the request stream, which the
          // service checks record by record: its validation result is ignored below.
          body: BatchFile,
          response: { 202: BatchStatus, 409: BankingError, 413: BankingError, ...errors },
        },
        attachValidation: true,
      },
      async (request, reply) => {
        if (request.validationError && request.validationError.validationContext !== 'body') throw request.validationError;
        const length = Number(request.headers['content-length'] ?? 0);
        if (length > MAX_BATCH_BYTES) throw new TesseraError('payload_too_large', `A batch file may have at most ${MAX_BATCH_BYTES} bytes.`);
        const body = request.body as unknown;
        if (!(body instanceof Readable)) throw new TesseraError('invalid_json', 'Send the batch file as an application/json body.');
        return reply.code(202).send(await batches.ingest(request.issuerId, body));
      },
    );

    app.get(
      '/batch-files/:batchId',
      { schema: { tags, summary: "A batch file's progress", security, params: BatchParams, querystring: BatchQuery, response: { 200: BatchStatus, ...errors } } },
      async (request) => batches.status(request.issuerId, request.params.batchId, seqOf(request.query.seqNumber)),
    );

    app.get(
      '/batch-files/:batchId/output',
      {
        schema: {
          tags,
          summary: "A batch file's output `{header: {…, totalRecords, errorCode}, recordsResults: [{rowId, consumerCardRegistrationResult}]}`: 409 until every record has its result",
          security,
          params: BatchParams,
          querystring: BatchQuery,
          response: { 200: BatchOutput, 409: BankingError, ...errors },
        },
      },
      async (request, reply) => {
        const doc = await batches.output(request.issuerId, request.params.batchId, seqOf(request.query.seqNumber));
        return reply.type('application/json; charset=utf-8').send(Readable.from(doc) as never);
      },
    );
  };

function seqOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}
