import { Type, type Static } from 'typebox';

/**
 * Schemas of the network tokenization face (`/cof/v1`) and the sandbox network (`/sandbox/v1`),
 * written once: validation, handler types and the OpenAPI document all come from them. Field
 * names follow the Thales merchant tokenization contract.
 */
export const CofError = Type.Object(
  {
    errorCode: Type.String({ description: 'Stable code, e.g. `decryption_failed`, `token_not_found`, `rate_limited`. 400/401/404/409 are not retryable; 429 and 503 are (see `retry-after`).' }),
    message: Type.String(),
  },
  { $id: 'CofError', description: 'Every error of the /cof/v1 and /sandbox/v1 faces. The request id is in the `x-request-id` header.' },
);

export const CorrelationHeaders = Type.Object({
  'x-correlation-id': Type.String({ minLength: 1, maxLength: 36, description: 'Required (1–36 printable characters); echoed in the response and in every notification that follows.' }),
});

const MMYY = Type.String({ pattern: '^(0[1-9]|1[0-2])[0-9]{2}$', description: 'MMYY' });

export const CreateTokenBody = Type.Object(
  {
    merchantId: Type.String({ minLength: 1, maxLength: 64, description: "The caller's merchant id." }),
    encryptedData: Type.String({
      minLength: 1,
      maxLength: 16384,
      description:
        'Compact JWE (alg RSA-OAEP-256, enc A256GCM, `kid` of a key from GET /cof/v1/keys). MANUAL / ON_FILE: `{fpan, exp: "MMYY", name?, cvv?, accountId?, email?}` (email required for American Express). TOKEN: `{token, accountId?, email?}` with a permanent vault token of the same merchant.',
    }),
    source: Type.Union([Type.Literal('MANUAL'), Type.Literal('ON_FILE'), Type.Literal('TOKEN')]),
  },
  { additionalProperties: false },
);
export type CreateTokenBody = Static<typeof CreateTokenBody>;

export const Issuer = Type.Object({ name: Type.String(), bin: Type.String({ description: 'The issuer identification number (first six digits).' }) });

const tokenFields = {
  tokenId: Type.String(),
  tokenStatus: Type.Union([Type.Literal('ACTIVE'), Type.Literal('SUSPENDED'), Type.Literal('DELETED')]),
  network: Type.Union([Type.Literal('VISA'), Type.Literal('MASTERCARD'), Type.Literal('AMEX'), Type.Literal('DISCOVER')]),
  cardBin: Type.String(),
  cardLastDigits: Type.String(),
  cardExpiryDate: MMYY,
  tokenLastDigits: Type.String(),
  tokenExpiryDate: MMYY,
  par: Type.String({ pattern: '^[0-9A-Z]{29}$', description: 'Payment account reference: the same for every token of one card.' }),
  cardArtIds: Type.Array(Type.String()),
  issuer: Issuer,
};

export const NetworkToken = Type.Object(tokenFields, { $id: 'NetworkToken' });

export const AsyncAccepted = Type.Object({ requestId: Type.String() });

export const AsyncTokenResult = Type.Object(
  {
    requestId: Type.String(),
    merchantId: Type.String(),
    requestStatus: Type.Union([Type.Literal('PENDING'), Type.Literal('SUCCEEDED'), Type.Literal('FAILED')], {
      description: 'Only in this answer, not in the notification.',
    }),
    ...Type.Partial(Type.Object(tokenFields)).properties,
    errorCode: Type.Optional(Type.String()),
    message: Type.Optional(Type.String()),
  },
  { description: 'The token creation notification body (token metadata on success, only errorCode and message on failure), plus requestStatus.' },
);

export const TokenIdParams = Type.Object({ tokenId: Type.String({ minLength: 1, maxLength: 64 }) });
export const RequestIdParams = Type.Object({ requestId: Type.String({ minLength: 1, maxLength: 64 }) });
export const MerchantIdParams = Type.Object({ merchantId: Type.String({ minLength: 1, maxLength: 64 }) });

export const TransactionBody = Type.Object(
  { tokenId: Type.String({ minLength: 1, maxLength: 64 }), transactionType: Type.Literal('SINGLE') },
  { additionalProperties: false },
);
export type TransactionBody = Static<typeof TransactionBody>;

export const Transaction = Type.Object({
  transactionId: Type.String(),
  encryptedData: Type.String({ description: 'Compact JWE (RSA-OAEP-256 + A256GCM) to your registered key of `{tokenPan, tokenExpiryDate, cryptogram}`.' }),
  eci: Type.String(),
  cryptogramExpiryDate: Type.String({ format: 'date-time' }),
});

const RsaJwk = Type.Object(
  { kty: Type.Literal('RSA'), kid: Type.String(), n: Type.String(), e: Type.String(), use: Type.Optional(Type.String()), alg: Type.Optional(Type.String()) },
  { additionalProperties: true },
);
export const Jwks = Type.Object({ keys: Type.Array(RsaJwk) });

export const MerchantPatchBody = Type.Object(
  {
    notificationUrl: Type.Optional(Type.Union([Type.String({ maxLength: 2048 }), Type.Null()], { description: 'Where notifications are POSTed (null: none).' })),
    jwks: Type.Optional(Type.Object({ keys: Type.Array(Type.Object({}, { additionalProperties: true }), { maxItems: 10 }) }, { description: 'Your RSA public keys (with kid) for transaction credentials.' })),
  },
  { additionalProperties: false },
);
export type MerchantPatchBody = Static<typeof MerchantPatchBody>;

export const MerchantSettings = Type.Object({
  merchantId: Type.String(),
  notificationUrl: Type.Union([Type.String(), Type.Null()]),
  jwks: Type.Union([Jwks, Type.Null()]),
});

export const SandboxAuthorizationBody = Type.Object(
  {
    merchantId: Type.String({ minLength: 1, maxLength: 64 }),
    tokenPan: Type.String({ pattern: '^[0-9]{12,19}$' }),
    tokenExpiryDate: MMYY,
    cryptogram: Type.String({ minLength: 1, maxLength: 64 }),
    amount: Type.Integer({ minimum: 1, maximum: 100_000_000_00, description: 'Minor units.' }),
    currency: Type.String({ pattern: '^[A-Z]{3}$' }),
  },
  { additionalProperties: false },
);
export type SandboxAuthorizationBody = Static<typeof SandboxAuthorizationBody>;

export const SandboxAuthorization = Type.Object({
  status: Type.Union([Type.Literal('approved'), Type.Literal('declined')]),
  reason: Type.Union([Type.String(), Type.Null()], {
    description: 'For declines: `invalid_token`, `invalid_cryptogram`, `cryptogram_replayed`, `cryptogram_expired`, `token_inactive`, `invalid_expiry`, or the issuer\'s (e.g. `insufficient_funds`).',
  }),
  authorizationId: Type.Union([Type.String(), Type.Null()]),
});

export const IssuerEventBody = Type.Object(
  {
    par: Type.String({ pattern: '^[0-9A-Z]{29}$' }),
    event: Type.Union([Type.Literal('CARD_LOST'), Type.Literal('CARD_FOUND'), Type.Literal('CARD_REISSUED')]),
    cardExpiryDate: Type.Optional(MMYY),
  },
  { additionalProperties: false },
);
export type IssuerEventBody = Static<typeof IssuerEventBody>;
