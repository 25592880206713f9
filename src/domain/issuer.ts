import { randomBytes } from 'node:crypto';
import { Type, type Static } from 'typebox';
import { Compile } from 'typebox/compile';
import { assertNoPan, validateExpiry, validatePan, type Card } from './card.ts';
import { TesseraError, type ErrorCode } from './errors.ts';

/**
 * The issuer face's rules, free of I/O. Glossary: an *issuer* (bank) registers *consumers* (its
 * cardholders, with personal information) and their *cards* under its own ids; *operations* are
 * asynchronous card changes (Click to Pay enrolment); a *batch file* registers many consumers and
 * cards at once. Schemas here are the single definition: the HTTP face and batch records both use them.
 */

/** Issuer ids: 10 alphanumerics. */
export const ISSUER_ID = /^[A-Za-z0-9]{10}$/;
/** The issuer's own ids for consumers and cards. */
export const CARD_ID_PATTERN = '^[A-Za-z0-9_-]{1,48}$';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function newIssuerId(): string {
  let id = '';
  for (const b of randomBytes(10)) id += ALNUM[b % 62];
  return id;
}

/** The vault tenant of an issuer (its data and fingerprint keys), apart from merchant ids. */
export const issuerTenant = (issuerId: string) => `issuer:${issuerId}`;

const Name = Type.String({ minLength: 1, maxLength: 100 });

export const Phone = Type.Object(
  {
    countryCode: Type.String({ pattern: '^\\+?[0-9]{1,4}$', description: 'e.g. `52` or `+52`' }),
    number: Type.String({ pattern: '^[0-9]{4,15}$' }),
  },
  { additionalProperties: false },
);

export const BillingAddress = Type.Object(
  {
    line1: Type.Optional(Type.String({ maxLength: 200 })),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: Type.Optional(Type.String({ maxLength: 100 })),
    state: Type.Optional(Type.String({ maxLength: 100 })),
    postalCode: Type.Optional(Type.String({ maxLength: 20 })),
    countryCode: Type.Optional(Type.String({ pattern: '^[A-Z]{2}$' })),
  },
  { additionalProperties: false },
);

export const PersonalInformation = Type.Object(
  {
    firstName: Name,
    lastName: Name,
    email: Type.Optional(Type.String({ maxLength: 254, pattern: '^[^\\s@]+@[^\\s@]+\\.[^\\s@]+$', description: 'Required for Click to Pay.' })),
    phone: Type.Optional(Phone),
    locale: Type.Optional(Type.String({ pattern: '^[a-z]{2}([-_][A-Z]{2})?$' })),
    billingAddress: Type.Optional(BillingAddress),
  },
  { additionalProperties: false },
);
export type PersonalInformation = Static<typeof PersonalInformation>;

/** One record of a batch file (`CONSUMER_CARD_REGISTRATION`). */
export const BatchRecord = Type.Object(
  {
    rowId: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer()]),
    consumerAndCardRegistrationRequest: Type.Object(
      {
        consumerId: Type.String({ pattern: CARD_ID_PATTERN }),
        personalInformation: PersonalInformation,
        cards: Type.Array(
          Type.Object(
            { cardId: Type.String({ pattern: CARD_ID_PATTERN }), encryptedData: Type.String({ minLength: 1, maxLength: 16384 }) },
            { additionalProperties: false },
          ),
          { maxItems: 20 },
        ),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type BatchRecord = Static<typeof BatchRecord>;

const checkPersonal = Compile(PersonalInformation);
const checkRecord = Compile(BatchRecord);

/** The first schema error of `value` as a registry error naming `prefix.<field>`; undefined when valid. */
function firstError(check: typeof checkRecord | typeof checkPersonal, value: unknown, prefix: string): TesseraError | undefined {
  if (check.Check(value)) return undefined;
  const e = [...check.Errors(value)].find((x) => x.keyword !== 'boolean') ?? [...check.Errors(value)][0];
  const path = (e?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.');
  const join = (leaf: string) => [prefix, path, leaf].filter(Boolean).join('.');
  if (e?.keyword === 'required') {
    const field = join(String((e.params as { requiredProperties?: string[] }).requiredProperties?.[0] ?? ''));
    return new TesseraError('missing_field', `${field} is required.`, field);
  }
  if (e?.keyword === 'additionalProperties') {
    const extra = String((e.params as { additionalProperties?: string[] }).additionalProperties?.[0] ?? '');
    const field = join(/^[A-Za-z_]{1,32}$/.test(extra) ? extra : '');
    return new TesseraError('unknown_field', `${field} holds a field that is not part of this request.`, field);
  }
  const field = join('');
  return new TesseraError('invalid_field', `${field || prefix} is not valid.`, field || prefix);
}

/** Personal information a consumer may hold; names and email must not carry a card number. */
export function validatePersonalInformation(value: unknown, prefix = 'personalInformation'): PersonalInformation {
  const err = firstError(checkPersonal, value, prefix);
  if (err) throw err;
  const p = value as PersonalInformation;
  assertNoPan(p.firstName, `${prefix}.firstName`);
  assertNoPan(p.lastName, `${prefix}.lastName`);
  assertNoPan(p.email, `${prefix}.email`);
  for (const [k, v] of Object.entries(p.billingAddress ?? {})) assertNoPan(v, `${prefix}.billingAddress.${k}`);
  return p;
}

export function validateBatchRecord(value: unknown): BatchRecord {
  const err = firstError(checkRecord, value, '');
  if (err) throw err;
  const r = value as BatchRecord;
  validatePersonalInformation(r.consumerAndCardRegistrationRequest.personalInformation, 'consumerAndCardRegistrationRequest.personalInformation');
  return r;
}

/** Click to Pay needs a way to reach the consumer: an email and a phone. */
export function canEnrolInClickToPay(consumer: { has_email: number; has_phone: number }): boolean {
  return consumer.has_email === 1 && consumer.has_phone === 1;
}

/**
 * The decrypted `encryptedData` of a card: `{pan, exp: "MMYY"}` (an optional `cardholderName`).
 * Field names at fault are `encryptedData.<field>`; messages never repeat a value.
 */
export function parseIssuerCardPayload(plaintext: Uint8Array, now: Date, param = 'encryptedData'): Card {
  let o: unknown;
  try {
    o = JSON.parse(Buffer.from(plaintext).toString('utf8'));
  } catch {
    throw new TesseraError('invalid_encrypted_data', `${param} does not hold a JSON object.`, param);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new TesseraError('invalid_encrypted_data', `${param} does not hold a JSON object.`, param);
  const obj = o as Record<string, unknown>;
  const extra = Object.keys(obj).find((k) => k !== 'pan' && k !== 'exp' && k !== 'cardholderName');
  if (extra !== undefined) {
    const shown = /^[A-Za-z_]{1,32}$/.test(extra) ? `${param}.${extra}` : param;
    throw new TesseraError('unknown_field', `${shown} is not a field of a card payload.`, shown);
  }
  const { pan } = validatePan(obj.pan, `${param}.pan`);
  const exp = obj.exp;
  if (exp === undefined || exp === null || exp === '') throw new TesseraError('missing_field', `${param}.exp is required (MMYY).`, `${param}.exp`);
  if (typeof exp !== 'string' || !/^\d{4}$/.test(exp)) throw new TesseraError('invalid_expiry_month', `${param}.exp must be MMYY.`, `${param}.exp`);
  let expiry: { expMonth: string; expYear: string };
  try {
    expiry = validateExpiry(exp.slice(0, 2), exp.slice(2), now);
  } catch (err) {
    if (err instanceof TesseraError) throw new TesseraError(err.code, err.message.replace(/exp_(month|year)/g, `${param}.exp`), `${param}.exp`);
    throw err;
  }
  const name = typeof obj.cardholderName === 'string' ? obj.cardholderName.slice(0, 100) : '';
  if (name) assertNoPan(name, `${param}.cardholderName`);
  return { pan, name, ...expiry };
}

/** A stable code for a failure inside a batch record or an operation (no message: codes only travel there). */
export function codeOf(err: unknown): ErrorCode {
  return err instanceof TesseraError ? err.code : 'internal_error';
}

/** A batch file's header. `batchId` has no dashes: drop-folder file names use them as separators. */
export const BatchHeader = Type.Object(
  {
    batchId: Type.String({ pattern: '^[A-Za-z0-9_]{1,64}$' }),
    seqNumber: Type.Integer({ minimum: 0, maximum: 999_999_999 }),
    issuerId: Type.String({ pattern: '^[A-Za-z0-9]{10}$' }),
    operation: Type.Literal('CONSUMER_CARD_REGISTRATION'),
    clickToPayAutoEnrolment: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type BatchHeader = Static<typeof BatchHeader>;
const checkHeader = Compile(BatchHeader);

export function validateBatchHeader(value: unknown): BatchHeader {
  const err = firstError(checkHeader as unknown as typeof checkRecord, value, 'header');
  if (err) throw err;
  return value as BatchHeader;
}
