import { Type, type Static } from 'typebox';

/**
 * Schemas of the merchant vault face, written once: Fastify validates with them, the handlers' types
 * come from them, and the OpenAPI document is generated from them. Field-level rules that need the
 * card's brand (Luhn, lengths, CVC length, expiry) live in `src/domain/card.ts`.
 */
const ExpiryPart = Type.Union([Type.String({ maxLength: 4 }), Type.Integer()]);

export const ErrorBody = Type.Object(
  {
    code: Type.String({ description: 'Stable error code, e.g. `invalid_number`, `insufficient_funds`, `token_expired`.' }),
    message: Type.String(),
    param: Type.Union([Type.String(), Type.Null()], { description: 'The request field at fault, when there is one.' }),
    request_id: Type.String(),
    decline_code: Type.Optional(Type.String({ description: 'For 402 answers: why the card network declined.' })),
  },
  { $id: 'MerchantError', description: 'Every error of the merchant face.' },
);

export const AuthorizationTokenResponse = Type.Object({ token: Type.String({ description: 'JWT, valid one hour.' }) });

export const CustomerBody = Type.Object(
  {
    first_name: Type.String({ minLength: 1, maxLength: 100 }),
    last_name: Type.String({ minLength: 1, maxLength: 100 }),
    email: Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$' }),
    phone: Type.Optional(Type.String({ maxLength: 32, pattern: '^\\+?[0-9 ()-]{4,32}$' })),
  },
  { additionalProperties: false },
);
export type CustomerBody = Static<typeof CustomerBody>;

export const Customer = Type.Object({
  id: Type.String(),
  first_name: Type.String(),
  last_name: Type.String(),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
});

export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
export const CardParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), cardId: Type.String({ minLength: 1, maxLength: 64 }) });
export const TokenParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 64 }) });

export const CardBody = Type.Object(
  {
    number: Type.String({ maxLength: 64, description: 'The card number, digits only.' }),
    name: Type.String({ maxLength: 200 }),
    exp_month: ExpiryPart,
    exp_year: ExpiryPart,
    cvc: Type.Optional(Type.String({ maxLength: 8 })),
  },
  { additionalProperties: false },
);
export type CardBody = Static<typeof CardBody>;

export const SavedCard = Type.Object({
  id: Type.String(),
  customer_id: Type.String(),
  brand: Type.String(),
  last4: Type.String(),
  exp_month: Type.String(),
  exp_year: Type.String(),
  fingerprint: Type.String({ description: 'The same for the same card number within one merchant.' }),
  created_at: Type.String({ format: 'date-time' }),
});

export const TokenBody = Type.Object(
  {
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'A saved card id.' })),
    number: Type.Optional(Type.String({ maxLength: 64 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    exp_month: Type.Optional(ExpiryPart),
    exp_year: Type.Optional(ExpiryPart),
    cvc: Type.Optional(Type.String({ maxLength: 8, description: 'Required with raw card details.' })),
    tokenization: Type.Optional(
      Type.Boolean({ description: '`true`: permanent token after a $10.00 MXN validation hold. Default `false`: temporary token (15 min).' }),
    ),
    installments: Type.Optional(
      Type.Union([Type.Literal(3), Type.Literal(6), Type.Literal(9), Type.Literal(12), Type.Literal(18)]),
    ),
    fixed_installments: Type.Optional(Type.Boolean()),
    source: Type.Optional(Type.String({ maxLength: 64, description: '`one_click_checkout` with an `id` forces `tokenization: true`.' })),
  },
  { additionalProperties: false },
);
export type TokenBody = Static<typeof TokenBody>;

export const TokenCreated = Type.Object({ token: Type.String() });

export const TokenMetadata = Type.Object({
  token: Type.String(),
  type: Type.Union([Type.Literal('temporary'), Type.Literal('permanent')]),
  brand: Type.String(),
  last4: Type.String(),
  exp_month: Type.String(),
  exp_year: Type.String(),
  expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  installments: Type.Union([Type.Integer(), Type.Null()]),
  fixed_installments: Type.Union([Type.Boolean(), Type.Null()]),
  source: Type.Union([Type.String(), Type.Null()]),
  card_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: 'date-time' }),
  validation: Type.Optional(
    Type.Object({
      status: Type.Union([Type.Literal('pending'), Type.Literal('held'), Type.Literal('released'), Type.Literal('failed')]),
      amount: Type.Number(),
      final_amount: Type.Number(),
      currency: Type.String(),
      updated_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      error: Type.Optional(Type.String()),
    }),
  ),
});

export const Deleted = Type.Object({ id: Type.String(), deleted: Type.Boolean() });
