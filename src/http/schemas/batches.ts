import { Type, type Static } from 'typebox';

/** Schemas of bulk tokenization (`/cof/v1/batches`) and the sandbox issuers' stats, written once. */

/** Body limit of `POST /cof/v1/batches`: a JWE of 10,000 records. 8 MiB. */
export const BATCH_BODY_LIMIT = 8 * 1024 * 1024;

const BatchId = Type.String({ pattern: '^[A-Za-z0-9._:-]{1,64}$', description: 'Your name for the batch (1–64 of A–Z a–z 0–9 . _ : -), unique among your batches.' });

export const BatchChunkBody = Type.Object(
  {
    merchantId: Type.String({ minLength: 1, maxLength: 64, description: "The caller's merchant id." }),
    batchId: BatchId,
    last: Type.Boolean({ description: 'true on the chunk that closes the batch (it may hold no records).' }),
    encryptedData: Type.String({
      minLength: 1,
      maxLength: BATCH_BODY_LIMIT,
      description:
        'Compact JWE (RSA-OAEP-256 + A256GCM, `kid` from GET /cof/v1/keys) of `{records: [{rowId, fpan, exp: "MMYY", name?, cvv?, accountId?, email?}]}`, at most 10,000 records; `rowId` (1–64 printable characters) is unique within the batch.',
    }),
  },
  { additionalProperties: false },
);
export type BatchChunkBody = Static<typeof BatchChunkBody>;

const status = Type.Union([Type.Literal('RECEIVING'), Type.Literal('PROCESSING'), Type.Literal('COMPLETED')]);

export const BatchStatus = Type.Object(
  {
    batchId: Type.String(),
    status,
    totalRecords: Type.Integer({ description: 'Records received so far.' }),
    processed: Type.Integer({ description: 'Records with their result (succeeded + failed).' }),
    succeeded: Type.Integer(),
    failed: Type.Integer(),
    startedAt: Type.String({ format: 'date-time', description: 'ISO-8601 with milliseconds: when the first chunk was stored.' }),
    completedAt: Type.Optional(Type.String({ format: 'date-time', description: 'When the last result was written.' })),
    estimatedCompletion: Type.Optional(Type.String({ format: 'date-time', description: 'At the pace so far, for the records received so far.' })),
  },
  { $id: 'BatchStatus' },
);

export const BatchIdParams = Type.Object({ batchId: BatchId });

export const ResultsQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(?:[1-9][0-9]{0,2}|1000)$', description: '1–1000, default 100.' })),
    cursor: Type.Optional(Type.String({ maxLength: 64, description: 'nextCursor of the previous page.' })),
  },
  { additionalProperties: false },
);

export const BatchResults = Type.Object({
  results: Type.Array(
    Type.Object({
      rowId: Type.String(),
      tokenId: Type.Optional(Type.String()),
      tokenStatus: Type.Optional(Type.String()),
      cardLastDigits: Type.Optional(Type.String()),
      errorCode: Type.Optional(Type.String()),
      message: Type.Optional(Type.String()),
    }),
  ),
  nextCursor: Type.Union([Type.String(), Type.Null()], {
    description: 'Pass it as cursor for the next page. A page stops before the first record still being processed; null once the batch is completed and read to the end.',
  }),
});

export const IssuerStatsResponse = Type.Object({
  issuers: Type.Record(
    Type.String(),
    Type.Object({
      requests: Type.Integer({ description: 'Requests received, 429s included.' }),
      throttled: Type.Integer({ description: 'Requests answered 429 (over TESSERA_SANDBOX_ISSUER_TPS).' }),
      maxPerSecond: Type.Integer({ description: 'The most requests accepted in one calendar second.' }),
    }),
  ),
});
