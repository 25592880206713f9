import { brandOf, validateCvc, validateExpiry, validateName, validatePan, type Card } from './card.ts';
import { TesseraError } from './errors.ts';
import type { NetworkName } from './network.ts';

/**
 * The decrypted `encryptedData` of `POST /cof/v1/tokens`: card details (`MANUAL`, `ON_FILE`) or a
 * permanent vault token (`TOKEN`). Validated here, with the field at fault named as
 * `encryptedData.<field>`; messages never repeat a value.
 */
export type CofSource = 'MANUAL' | 'ON_FILE' | 'TOKEN';

export interface CardholderData {
  cvv?: string | undefined;
  accountId?: string | undefined;
  email?: string | undefined;
}

export type CofPayload = ({ kind: 'card'; card: Card } | { kind: 'token'; token: string }) & CardholderData;

const P = 'encryptedData';
const CARD_FIELDS = new Set(['fpan', 'exp', 'name', 'cvv', 'accountId', 'email']);
const TOKEN_FIELDS = new Set(['token', 'cvv', 'accountId', 'email']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function optionalString(obj: Record<string, unknown>, field: string, max: number): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max) {
    throw new TesseraError('invalid_field', `${P}.${field} must be a string of 1 to ${max} characters.`, `${P}.${field}`);
  }
  return v;
}

/** Parses and validates the JWE plaintext for `source`. `now` decides whether the card has expired. */
export function parseCofPayload(plaintext: Uint8Array, source: CofSource, now: Date): CofPayload {
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(plaintext).toString('utf8'));
  } catch {
    throw new TesseraError('invalid_encrypted_data', `${P} does not hold a JSON object.`, P);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TesseraError('invalid_encrypted_data', `${P} does not hold a JSON object.`, P);
  }
  return validateCofObject(obj as Record<string, unknown>, source, now);
}

/** Validates an already-parsed payload object (one record of a batch chunk, or a whole `encryptedData`). */
export function validateCofObject(o: Record<string, unknown>, source: CofSource, now: Date): CofPayload {
  const allowed = source === 'TOKEN' ? TOKEN_FIELDS : CARD_FIELDS;
  const extra = Object.keys(o).find((key) => !allowed.has(key));
  if (extra !== undefined) {
    const shown = extra.length <= 32 && /^[A-Za-z_]+$/.test(extra) ? `${P}.${extra}` : `${P} holds a field that`;
    throw new TesseraError('unknown_field', `${shown} is not a field of a ${source} payload.`, `${P}.${extra.slice(0, 32)}`);
  }
  const accountId = optionalString(o, 'accountId', 64);
  const email = optionalString(o, 'email', 254);
  if (email !== undefined && !EMAIL.test(email)) throw new TesseraError('invalid_field', `${P}.email is not an email address.`, `${P}.email`);
  const rawCvv = o.cvv === null ? undefined : o.cvv;

  if (source === 'TOKEN') {
    const token = o.token;
    if (token === undefined || token === null || token === '') throw new TesseraError('missing_field', `${P}.token is required.`, `${P}.token`);
    if (typeof token !== 'string' || token.length > 64) throw new TesseraError('invalid_field', `${P}.token must be a vault token.`, `${P}.token`);
    if (rawCvv !== undefined && (typeof rawCvv !== 'string' || !/^\d{3,4}$/.test(rawCvv))) {
      throw new TesseraError('invalid_cvc', `${P}.cvv must be 3 or 4 digits.`, `${P}.cvv`);
    }
    return { kind: 'token', token, cvv: rawCvv as string | undefined, accountId, email };
  }

  const { pan, info } = validatePan(o.fpan, `${P}.fpan`);
  const exp = o.exp;
  if (exp === undefined || exp === null || exp === '') throw new TesseraError('missing_field', `${P}.exp is required (MMYY).`, `${P}.exp`);
  if (typeof exp !== 'string' || !/^\d{4}$/.test(exp)) throw new TesseraError('invalid_expiry_month', `${P}.exp must be MMYY.`, `${P}.exp`);
  let expiry: { expMonth: string; expYear: string };
  try {
    expiry = validateExpiry(exp.slice(0, 2), exp.slice(2), now);
  } catch (err) {
    if (err instanceof TesseraError) throw new TesseraError(err.code, err.message.replace(/exp_(month|year)/g, `${P}.exp`), `${P}.exp`);
    throw err;
  }
  const name = o.name === undefined || o.name === null ? '' : validateName(o.name, `${P}.name`);
  const cvv = rawCvv === undefined ? undefined : validateCvc(rawCvv, info, `${P}.cvv`);
  return { kind: 'card', card: { pan, name, ...expiry }, cvv, accountId, email };
}

const NETWORKS: Partial<Record<string, NetworkName>> = { visa: 'VISA', mastercard: 'MASTERCARD', amex: 'AMEX', discover: 'DISCOVER' };

/** The network that tokenizes this card, or `network_not_supported`. */
export function networkOf(pan: string, param = `${P}.fpan`): NetworkName {
  const network = NETWORKS[brandOf(pan).brand];
  if (!network) throw new TesseraError('network_not_supported', 'Network tokens are issued for Visa, Mastercard, American Express and Discover cards only.', param);
  return network;
}

/** American Express keys its tokens by email as well: it is required there. */
export function requireNetworkFields(network: NetworkName, data: CardholderData): void {
  if (network === 'AMEX' && data.email === undefined) {
    throw new TesseraError('missing_email', `${P}.email is required for American Express cards.`, `${P}.email`);
  }
}
