import { Type, type Static } from 'typebox';

/** Schemas of hosted card fields (`/elements/v1`), merchant settings and the hosted payment page, written once. */
const ExpiryPart = Type.Union([Type.String({ maxLength: 4 }), Type.Integer()]);
const Installments = Type.Union([Type.Literal(3), Type.Literal(6), Type.Literal(9), Type.Literal(12), Type.Literal(18)]);

const CardFields = {
  number: Type.String({ maxLength: 64 }),
  name: Type.String({ maxLength: 200 }),
  exp_month: ExpiryPart,
  exp_year: ExpiryPart,
  cvc: Type.String({ maxLength: 8 }),
};

/** What the card frame sends with a publishable key: raw card details and the token options of `POST /api/tokens`. */
export const ElementsTokenBody = Type.Object(
  {
    ...CardFields,
    tokenization: Type.Optional(Type.Boolean({ description: '`true`: permanent token after the validation hold.' })),
    installments: Type.Optional(Installments),
    fixed_installments: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ElementsTokenBody = Static<typeof ElementsTokenBody>;

export const ElementsTokenCreated = Type.Object({
  token: Type.String(),
  brand: Type.String(),
  last4: Type.String(),
});

export const FrameQuery = Type.Object(
  {
    key: Type.Optional(Type.String({ maxLength: 64 })),
    order: Type.Optional(Type.String({ maxLength: 64 })),
    origin: Type.String({ maxLength: 300 }),
    locale: Type.Optional(Type.String({ maxLength: 8 })),
  },
  { additionalProperties: false },
);

export const MerchantSettings = Type.Object({
  publishable_key: Type.String({ description: 'For `Tessera.card({publicKey})` in browsers: public by design, it can only create tokens through the card frame.' }),
  allowed_origins: Type.Array(Type.String(), { description: 'Origins whose pages may embed the card frame with the publishable key.' }),
});

export const MerchantSettingsBody = Type.Object(
  {
    allowed_origins: Type.Optional(
      Type.Array(Type.String({ maxLength: 255 }), {
        maxItems: 20,
        description: 'The whole list (it replaces the previous one): `https://host[:port]` each, no path or wildcard; `http://` only for localhost, 127.0.0.1 and [::1].',
      }),
    ),
  },
  { additionalProperties: false },
);

export const PayBody = Type.Object(
  { ...CardFields, installments: Type.Optional(Installments) },
  { additionalProperties: false },
);
export type PayBody = Static<typeof PayBody>;

export const PayResult = Type.Object({
  status: Type.String(),
  number: Type.String(),
  redirect_url: Type.Union([Type.String(), Type.Null()]),
});

export const PayParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) });
