import creditCardType from 'credit-card-type';
import { TesseraError } from './errors.ts';

/** Brands as Tessera names them in every answer. */
export type Brand =
  | 'visa'
  | 'mastercard'
  | 'amex'
  | 'discover'
  | 'diners'
  | 'jcb'
  | 'unionpay'
  | 'maestro'
  | 'elo'
  | 'mir'
  | 'hipercard'
  | 'unknown';

const BRAND_NAMES: Record<string, Brand> = {
  visa: 'visa',
  mastercard: 'mastercard',
  'american-express': 'amex',
  discover: 'discover',
  'diners-club': 'diners',
  jcb: 'jcb',
  unionpay: 'unionpay',
  maestro: 'maestro',
  elo: 'elo',
  mir: 'mir',
  hipercard: 'hipercard',
  hiper: 'hipercard',
};

/** A validated card, as the vault keeps it. `expYear` has four digits, `expMonth` two. */
export interface Card {
  pan: string;
  expMonth: string;
  expYear: string;
  name: string;
}

export interface CardInput {
  number?: unknown;
  name?: unknown;
  exp_month?: unknown;
  exp_year?: unknown;
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

export interface BrandInfo {
  brand: Brand;
  lengths: readonly number[];
  cvcLength: number;
}

const UNKNOWN_BRAND: BrandInfo = { brand: 'unknown', lengths: [12, 13, 14, 15, 16, 17, 18, 19], cvcLength: 3 };

/** Unknown ranges accept 12–19 digits. */
const BRAND_CACHE = new Map<string, BrandInfo>();

/** Brand from the BIN ranges of `credit-card-type` (its patterns need at most six digits: cached by them). */
export function brandOf(pan: string): BrandInfo {
  const bin = pan.slice(0, 6);
  let info = pan.length >= 6 ? BRAND_CACHE.get(bin) : undefined;
  if (!info) {
    info = detectBrand(pan);
    if (pan.length >= 6) {
      if (BRAND_CACHE.size >= 20_000) BRAND_CACHE.clear();
      BRAND_CACHE.set(bin, info);
    }
  }
  return info;
}

function detectBrand(pan: string): BrandInfo {
  const matches = creditCardType(pan.slice(0, 6));
  const match = matches.find((m) => BRAND_NAMES[m.type] !== undefined);
  if (!match) return UNKNOWN_BRAND;
  return { brand: BRAND_NAMES[match.type] ?? 'unknown', lengths: match.lengths, cvcLength: match.code.size };
}

const DIGITS = /^[0-9]+$/;

/**
 * Checks a card number: digits only, a length its brand allows, and the Luhn check digit.
 * Messages never repeat the number.
 */
export function validatePan(value: unknown, param = 'number'): { pan: string; info: BrandInfo } {
  if (value === undefined || value === null || value === '') {
    throw new TesseraError('missing_field', 'The card number is required.', param);
  }
  if (typeof value !== 'string') throw new TesseraError('invalid_number', 'The card number must be a string of digits.', param);
  if (!DIGITS.test(value)) {
    throw new TesseraError('invalid_number', 'The card number must contain digits only, without spaces or dashes.', param);
  }
  if (value.length < 12 || value.length > 19) {
    throw new TesseraError('invalid_number', 'The card number must have between 12 and 19 digits.', param);
  }
  const info = brandOf(value);
  if (!info.lengths.includes(value.length)) {
    throw new TesseraError('invalid_number', `A ${info.brand} card number cannot have ${value.length} digits.`, param);
  }
  if (!luhnValid(value)) throw new TesseraError('invalid_number', 'The card number is not valid (check digit).', param);
  return { pan: value, info };
}

function twoDigits(value: unknown, param: string, code: 'invalid_expiry_month' | 'invalid_expiry_year'): string {
  if (value === undefined || value === null || value === '') {
    throw new TesseraError('missing_field', `${param} is required.`, param);
  }
  const text = typeof value === 'number' && Number.isInteger(value) ? String(value) : value;
  if (typeof text !== 'string' || !DIGITS.test(text)) {
    throw new TesseraError(code, `${param} must be digits.`, param);
  }
  return text;
}

/** Normalizes an expiry to `{expMonth: "MM", expYear: "YYYY"}`; rejects bad values and past dates. */
export function validateExpiry(month: unknown, year: unknown, now: Date): { expMonth: string; expYear: string } {
  const m = twoDigits(month, 'exp_month', 'invalid_expiry_month');
  const monthNumber = Number(m);
  if (m.length > 2 || monthNumber < 1 || monthNumber > 12) {
    throw new TesseraError('invalid_expiry_month', 'exp_month must be a month from 01 to 12.', 'exp_month');
  }
  const y = twoDigits(year, 'exp_year', 'invalid_expiry_year');
  if (y.length !== 2 && y.length !== 4) {
    throw new TesseraError('invalid_expiry_year', 'exp_year must have two or four digits.', 'exp_year');
  }
  const fullYear = y.length === 2 ? 2000 + Number(y) : Number(y);
  const thisYear = now.getUTCFullYear();
  const thisMonth = now.getUTCMonth() + 1;
  if (fullYear < thisYear || (fullYear === thisYear && monthNumber < thisMonth)) {
    throw new TesseraError('card_expired', 'The card has expired.', 'exp_year');
  }
  if (fullYear > thisYear + 50) {
    throw new TesseraError('invalid_expiry_year', 'exp_year is too far in the future.', 'exp_year');
  }
  return { expMonth: String(monthNumber).padStart(2, '0'), expYear: String(fullYear) };
}

/** A CVC of the length the brand uses (4 for American Express, 3 otherwise). */
export function validateCvc(value: unknown, info: BrandInfo, param = 'cvc'): string {
  if (typeof value !== 'string' || !DIGITS.test(value)) {
    throw new TesseraError('invalid_cvc', 'cvc must be a string of digits.', param);
  }
  if (value.length !== info.cvcLength) {
    throw new TesseraError('invalid_cvc', `cvc must have ${info.cvcLength} digits for this card.`, param);
  }
  return value;
}

export function validateName(value: unknown, param = 'name'): string {
  if (value === undefined || value === null) throw new TesseraError('missing_field', 'The cardholder name is required.', param);
  if (typeof value !== 'string') throw new TesseraError('invalid_name', 'name must be a string.', param);
  const name = value.trim();
  if (name.length === 0) throw new TesseraError('missing_field', 'The cardholder name is required.', param);
  if (name.length > 100) throw new TesseraError('invalid_name', 'name must have at most 100 characters.', param);
  // A card number typed into the wrong field must not end up stored as a name.
  if (/\d{12,}/.test(name.replace(/[\s-]/g, ''))) {
    throw new TesseraError('invalid_name', 'name must not contain a card number.', param);
  }
  return name;
}

/** Validates raw card details in the order a person would fix them. */
export function validateCard(input: CardInput, now: Date): { card: Card; info: BrandInfo } {
  const { pan, info } = validatePan(input.number);
  const name = validateName(input.name);
  const { expMonth, expYear } = validateExpiry(input.exp_month, input.exp_year, now);
  return { card: { pan, name, expMonth, expYear }, info };
}

export function last4(pan: string): string {
  return pan.slice(-4);
}

/** A UUID in its canonical 8-4-4-4-12 hex form. */
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/**
 * True when free text holds what looks like a card number: a run of 13–19 digits (spaces and dashes
 * ignored) of a known brand's length that passes Luhn. Plain-text fields (names, emails, sources)
 * refuse such values so a PAN typed into the wrong field never lands in a plain column or a log.
 * The dashes of a canonical UUID do not join its groups: ignoring them refused about 1 in 600
 * random UUIDs (an all-digit run across groups that passes Luhn), and UUIDs are what clients put in
 * idempotency keys and correlation ids. No group of a UUID is long enough to be a card number.
 */
export function containsPan(text: string): boolean {
  const runs = text
    .replace(UUID, (uuid) => uuid.replaceAll('-', '/'))
    .replace(/[\s-]/g, '')
    .match(/\d{13,19}/g);
  if (!runs) return false;
  for (const run of runs) {
    for (let len = 13; len <= Math.min(19, run.length); len++) {
      for (let start = 0; start + len <= run.length; start++) {
        const candidate = run.slice(start, start + len);
        const info = brandOf(candidate);
        if (info.brand !== 'unknown' && info.lengths.includes(len) && luhnValid(candidate)) return true;
      }
    }
  }
  return false;
}

/** Refuses a plain-text field that holds a card number (see `containsPan`). */
export function assertNoPan(value: string | undefined | null, param: string): void {
  if (value && containsPan(value)) {
    throw new TesseraError('invalid_field', `${param} must not contain a card number.`, param);
  }
}
