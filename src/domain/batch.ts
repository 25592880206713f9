import type { Card } from './card.ts';
import { containsPan } from './card.ts';
import { networkOf, requireNetworkFields, validateCofObject } from './cof-payload.ts';
import { TesseraError, type ErrorCode } from './errors.ts';
import type { NetworkName } from './network.ts';

/**
 * Bulk tokenization, pure rules. Glossary: a *batch* is one merchant's set of cards to tokenize,
 * named by the merchant's `batchId`; it arrives in *chunks* (one JWE each, ≤ 10,000 *records*); a
 * record is one card with the merchant's `rowId`; each record ends with exactly one *result*.
 */
export const MAX_CHUNK_RECORDS = 10_000;
export const ROW_ID = /^[\x21-\x7e]{1,64}$/;

/** A record as validated on arrival: ready for the network, or already failed (bad Luhn, expiry, missing Amex email…). */
export type ParsedRecord =
  | { rowId: string; ok: true; card: Card; network: NetworkName; cvv?: string | undefined; accountId?: string | undefined; email?: string | undefined }
  | { rowId: string; ok: false; code: ErrorCode; message: string };

const P = 'encryptedData';

/**
 * Parses a chunk's plaintext `{records: [...]}`. Faults of the chunk as a whole (not JSON, no
 * records, too many, a missing or repeated `rowId`) throw, so nothing of it is stored; faults of
 * one card become that record's failed result. Messages never repeat a value.
 */
export function parseChunk(plaintext: Uint8Array, now: Date): ParsedRecord[] {
  let obj: unknown;
  try {
    obj = JSON.parse(Buffer.from(plaintext).toString('utf8'));
  } catch {
    throw new TesseraError('invalid_encrypted_data', `${P} does not hold a JSON object.`, P);
  }
  const records = (obj as { records?: unknown } | null)?.records;
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj) || !Array.isArray(records)) {
    throw new TesseraError('invalid_encrypted_data', `${P} must hold {"records": [...]}.`, `${P}.records`);
  }
  if (Object.keys(obj).length !== 1) throw new TesseraError('unknown_field', `${P} may hold only records.`, P);
  if (records.length > MAX_CHUNK_RECORDS) {
    throw new TesseraError('too_many_records', `A chunk holds at most ${MAX_CHUNK_RECORDS} records; this one holds ${records.length}. Split it.`, `${P}.records`);
  }
  const seen = new Set<string>();
  return records.map((raw, i): ParsedRecord => {
    const param = `${P}.records[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TesseraError('invalid_encrypted_data', `${param} must be an object.`, param);
    const { rowId, ...fields } = raw as Record<string, unknown>;
    if (typeof rowId !== 'string' || !ROW_ID.test(rowId) || containsPan(rowId)) {
      throw new TesseraError('invalid_field', `${param}.rowId must be 1 to 64 printable characters, and not a card number.`, `${param}.rowId`);
    }
    if (seen.has(rowId)) throw new TesseraError('duplicate_row_id', `${param}.rowId repeats an earlier record's rowId.`, `${param}.rowId`);
    seen.add(rowId);
    try {
      const payload = validateCofObject(fields, 'ON_FILE', now);
      if (payload.kind !== 'card') throw new TesseraError('invalid_field', 'A record holds a card.', `${param}.fpan`);
      const network = networkOf(payload.card.pan);
      requireNetworkFields(network, payload);
      return { rowId, ok: true, card: payload.card, network, cvv: payload.cvv, accountId: payload.accountId, email: payload.email };
    } catch (err) {
      if (!(err instanceof TesseraError)) throw err;
      return { rowId, ok: false, code: err.code, message: err.message.replaceAll(`${P}.`, '') };
    }
  });
}

/** Results pages: the cursor is the last `seq` read, opaque to clients. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return -1;
  const match = /^s(\d{1,9})$/.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (!match) throw new TesseraError('invalid_cursor', 'cursor is not a cursor from a previous page.', 'cursor');
  return Number(match[1]);
}
