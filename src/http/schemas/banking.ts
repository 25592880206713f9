import { Type, type Static } from 'typebox';
import { BatchHeader, BatchRecord, CARD_ID_PATTERN, PersonalInformation } from '../../domain/issuer.ts';

/**
 * Schemas of the issuer face (`/authz/v1`, `/banking/v1`, Thales D1 style), written once:
 * validation, handler types and the OpenAPI document come from them.
 */
export const BankingError = Type.Object(
  {
    errorCode: Type.String({ description: 'Stable code, e.g. `card_not_found`, `decryption_failed`, `invalid_field`. 429 and 503 are retryable (see `retry-after`).' }),
    errorDescription: Type.String(),
    field: Type.Union([Type.String(), Type.Null()], { description: 'The request field at fault, if any.' }),
    requestId: Type.String({ description: 'Also in the `x-request-id` header.' }),
  },
  { $id: 'BankingError', description: 'Every error of the /banking/v1 face.' },
);

export const OAuthError = Type.Object(
  {
    error: Type.String({ description: '`invalid_request`, `invalid_grant`, `invalid_client` (401), `unsupported_grant_type` (RFC 6749 §5.2).' }),
    error_description: Type.String(),
  },
  { $id: 'OAuthError' },
);

export const TokenRequestBody = Type.Object(
  {
    grant_type: Type.Optional(Type.String({ maxLength: 128, description: '`urn:ietf:params:oauth:grant-type:jwt-bearer`' })),
    assertion: Type.Optional(
      Type.String({
        maxLength: 8192,
        description: 'An ES256 JWT signed by a registered key (`kid`): `iss` = issuerId, `exp` at most 15 minutes ahead, `aud` optional (this URL), `jti` optional (single use).',
      }),
    ),
  },
  { additionalProperties: true, description: 'Form-encoded (application/x-www-form-urlencoded).' },
);
export type TokenRequestBody = Static<typeof TokenRequestBody>;

export const AccessToken = Type.Object({
  access_token: Type.String(),
  expires_in: Type.Integer({ description: '900 seconds.' }),
  token_type: Type.Literal('Bearer'),
});

const EcJwk = Type.Object(
  { kty: Type.Literal('EC'), crv: Type.Literal('P-256'), x: Type.String(), y: Type.String(), kid: Type.String(), use: Type.String(), alg: Type.String() },
  { additionalProperties: false },
);
export const EcJwks = Type.Object({ keys: Type.Array(EcJwk) }, { description: 'Encrypt `encryptedData` to the first key: JWE `ECDH-ES` + `A256GCM` with its `kid`.' });

const Id = Type.String({ pattern: CARD_ID_PATTERN });
export const IssuerParams = Type.Object({ issuerId: Type.String({ pattern: '^[A-Za-z0-9]{10}$' }) });
export const ConsumerParams = Type.Object({ issuerId: Type.String(), consumerId: Id });
export const CardParams = Type.Object({ issuerId: Type.String(), cardId: Id });
export const OperationParams = Type.Object({ issuerId: Type.String(), cardId: Id, operationId: Type.String({ minLength: 1, maxLength: 64 }) });
export const TokenParams = Type.Object({ issuerId: Type.String(), tokenId: Type.String({ minLength: 1, maxLength: 64 }) });

export const ConsumerBody = Type.Object({ personalInformation: PersonalInformation }, { additionalProperties: false });
export type ConsumerBody = Static<typeof ConsumerBody>;
export const ConsumerAnswer = Type.Object({ consumerId: Type.String() });

export const CardBody = Type.Object(
  {
    consumerId: Id,
    encryptedData: Type.String({ minLength: 1, maxLength: 16384, description: 'Compact JWE (`ECDH-ES` + `A256GCM`, `kid` from GET /banking/v1/keys) of `{pan, exp: "MMYY"}`.' }),
  },
  { additionalProperties: false },
);
export type CardBody = Static<typeof CardBody>;

export const IssuerCard = Type.Object({
  cardId: Type.String(),
  consumerId: Type.String(),
  network: Type.String(),
  cardLastDigits: Type.String(),
  cardExpiryDate: Type.String({ description: 'MMYY' }),
  clickToPayStatus: Type.Union([Type.Literal('ENROLLED'), Type.Literal('NOT_ENROLLED')]),
});

export const IssuerToken = Type.Object({
  tokenId: Type.String(),
  tokenStatus: Type.Union([Type.Literal('ACTIVE'), Type.Literal('SUSPENDED'), Type.Literal('DELETED')]),
  tokenType: Type.Union([Type.Literal('ECOM'), Type.Literal('CLICK_TO_PAY')]),
  cardId: Type.String(),
  network: Type.String(),
  tokenLastDigits: Type.String(),
  tokenExpiryDate: Type.String({ description: 'MMYY' }),
  par: Type.String(),
});
export const IssuerTokens = Type.Object({ tokens: Type.Array(IssuerToken) });

export const IssuerTransaction = Type.Object({
  transactionId: Type.String(),
  encryptedData: Type.String({ description: 'Compact JWE (`ECDH-ES` + `A256GCM`) to your registered `enc` key of `{tokenPan, tokenExpiryDate, cryptogram}`.' }),
  eci: Type.String(),
  cryptogramExpiryDate: Type.String({ format: 'date-time' }),
});

export const EnrolmentBody = Type.Union(
  [Type.Object({ reason: Type.Optional(Type.String({ maxLength: 256 })), reasonCode: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false }), Type.Null()],
  { description: 'Optional.' },
);
export type EnrolmentBody = Static<typeof EnrolmentBody>;

export const Operation = Type.Object({
  operationId: Type.String(),
  operation: Type.Literal('CLICK_TO_PAY_ENROLMENT'),
  status: Type.Union([Type.Literal('PENDING'), Type.Literal('SUCCESSFUL'), Type.Literal('FAILED')]),
  startTime: Type.String({ format: 'date-time' }),
  endTime: Type.Optional(Type.String({ format: 'date-time' })),
  errorCode: Type.Optional(Type.String({ description: '`consumer_contact_required` (no email or phone), a network decline (e.g. `card_declined`), `tsp_unavailable`.' })),
});
export const Operations = Type.Object({ operations: Type.Array(Operation) });

export const BatchParams = Type.Object({ issuerId: Type.String(), batchId: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }) });
export const BatchQuery = Type.Object({ seqNumber: Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'Default: the highest seqNumber of this batchId.' })) }, { additionalProperties: false });

export const BatchStatus = Type.Object({
  batchId: Type.String(),
  seqNumber: Type.Integer(),
  status: Type.Union([Type.Literal('PROCESSING'), Type.Literal('COMPLETED')]),
  totalRecords: Type.Integer(),
  processedRecords: Type.Integer(),
  koRecords: Type.Integer(),
  clickToPayAutoEnrolment: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  completedAt: Type.Optional(Type.String({ format: 'date-time' })),
});

const ResultCode = Type.Union([Type.Literal('OK'), Type.Literal('KO')]);

/** `GET …/batch-files/:batchId/output`: one result per record, in file order (streamed, so described here, not serialized by it). */
export const BatchOutput = Type.Object({
  header: Type.Object({
    batchId: Type.String(),
    seqNumber: Type.Integer(),
    issuerId: Type.String(),
    operation: Type.Literal('CONSUMER_CARD_REGISTRATION'),
    clickToPayAutoEnrolment: Type.Boolean(),
    totalRecords: Type.Integer(),
    errorCode: Type.Union([Type.String(), Type.Null()], { description: 'null for a processed file; the reason for a refused one.' }),
  }),
  recordsResults: Type.Array(
    Type.Object({
      rowId: Type.Union([Type.String(), Type.Integer()]),
      consumerCardRegistrationResult: Type.Object({
        consumerId: Type.Union([Type.String(), Type.Null()]),
        consumerStatus: ResultCode,
        cards: Type.Array(
          Type.Object({
            cardId: Type.String(),
            status: ResultCode,
            errorCode: Type.Optional(Type.String()),
            clickToPayEnrolment: Type.Optional(Type.Union([Type.Literal('SUCCESSFUL'), Type.Literal('FAILED')])),
            clickToPayErrorCode: Type.Optional(Type.String()),
          }),
        ),
        consumerError: Type.Optional(Type.Object({ errorCode: Type.String(), field: Type.Union([Type.String(), Type.Null()]) })),
      }),
    }),
  ),
});

/**
 * The batch file, for the OpenAPI document and the SDK: the same header and record schemas the
 * service checks record by record while it streams the file (Fastify does not validate this body).
 */
export const BatchFile = Type.Object({
  header: BatchHeader,
  records: Type.Array(BatchRecord),
  signature: Type.String({ description: 'Detached JWS (`protected..signature`, ES256, a registered `kid`) over the RFC 8785 canonical JSON of `{header, records}`.' }),
});

/** The batch file body, described (not validated by the framework: it is streamed and checked record by record). */
export const BATCH_BODY =
  'Body (application/json, up to 200 MB, streamed): `{header: {batchId, seqNumber, issuerId, operation: "CONSUMER_CARD_REGISTRATION", clickToPayAutoEnrolment?}, ' +
  'records: [{rowId, consumerAndCardRegistrationRequest: {consumerId, personalInformation, cards: [{cardId, encryptedData}]}}], signature}`; ' +
  '`signature` is a detached JWS (`protected..signature`, ES256, a registered `kid`) over the RFC 8785 canonical JSON of `{header, records}`. ' +
  'A bad signature refuses the whole file; a bad record is KO in the output without stopping the rest.';
