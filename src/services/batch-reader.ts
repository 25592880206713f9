import { TesseraError } from '../domain/errors.ts';

/**
 * A streaming reader of batch files (`{header, records: [...], signature}`, keys in any order):
 * bytes in, one event per top-level value or record out, holding at most one value in memory.
 * Structural characters are ASCII, and UTF-8 multi-byte sequences never contain ASCII bytes, so
 * scanning bytes is safe. Values are parsed with `JSON.parse`.
 */
/** `records` itself comes as a field (value undefined) before its records. */
export type BatchEvent = { kind: 'field'; key: string; value: unknown } | { kind: 'record'; value: unknown };

/** Largest single value (a record, the header): bounds memory. Default 1 MiB. */
const MAX_VALUE_BYTES = 1024 * 1024;

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);
const malformed = (why: string) => new TesseraError('invalid_json', `The batch file is not valid JSON (${why}).`);

type State = 'start' | 'key' | 'colon' | 'value' | 'after' | 'records' | 'elem' | 'afterElem' | 'end';

export class BatchReader {
  #state: State = 'start';
  #key = '';
  /** The value being captured: its bytes, nesting depth, and whether inside a string. */
  #parts: Buffer[] = [];
  #size = 0;
  #capturing = false;
  #depth = 0;
  #inString = false;
  #escape = false;
  #primitive = false;
  #target: 'key' | 'value' | 'elem' = 'value';
  #events: BatchEvent[] = [];
  bytes = 0;

  push(chunk: Buffer): BatchEvent[] {
    this.bytes += chunk.length;
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (this.#capturing) {
        if (this.#inString) {
          if (this.#escape) this.#escape = false;
          else if (c === 0x5c) this.#escape = true;
          else if (c === 0x22) {
            this.#inString = false;
            if (this.#depth === 0 && !this.#primitive) {
              this.#finish(chunk, start, i + 1);
              continue;
            }
          }
          continue;
        }
        if (this.#primitive) {
          if (c === 0x2c || c === 0x7d || c === 0x5d || WS.has(c)) {
            this.#finish(chunk, start, i);
            i--; // the delimiter belongs to the structure
          }
          continue;
        }
        if (c === 0x22) this.#inString = true;
        else if (c === 0x7b || c === 0x5b) this.#depth++;
        else if (c === 0x7d || c === 0x5d) {
          this.#depth--;
          if (this.#depth === 0) this.#finish(chunk, start, i + 1);
        }
        continue;
      }
      if (WS.has(c)) continue;
      switch (this.#state) {
        case 'start':
          if (c !== 0x7b) throw malformed('expected an object');
          this.#state = 'key';
          break;
        case 'key':
          if (c === 0x7d) this.#state = 'end';
          else if (c === 0x22) start = this.#begin(i, 'key', true);
          else throw malformed('expected a key');
          break;
        case 'colon':
          if (c !== 0x3a) throw malformed('expected a colon');
          this.#state = this.#key === 'records' ? 'records' : 'value';
          break;
        case 'records':
          if (c !== 0x5b) throw malformed('records must be an array');
          this.#events.push({ kind: 'field', key: 'records', value: undefined });
          this.#state = 'elem';
          break;
        case 'elem':
          if (c === 0x5d) this.#state = 'after';
          else start = this.#begin(i, 'elem', c === 0x22, c !== 0x7b && c !== 0x5b && c !== 0x22);
          break;
        case 'afterElem':
          if (c === 0x2c) this.#state = 'elem';
          else if (c === 0x5d) this.#state = 'after';
          else throw malformed('expected , or ] in records');
          break;
        case 'value':
          start = this.#begin(i, 'value', c === 0x22, c !== 0x7b && c !== 0x5b && c !== 0x22);
          break;
        case 'after':
          if (c === 0x2c) this.#state = 'key';
          else if (c === 0x7d) this.#state = 'end';
          else throw malformed('expected , or }');
          break;
        case 'end':
          throw malformed('content after the end');
      }
    }
    if (this.#capturing) this.#keep(chunk.subarray(start));
    const out = this.#events;
    this.#events = [];
    return out;
  }

  /** Call after the last chunk: throws unless the file ended where an object may end. */
  end(): BatchEvent[] {
    if (this.#capturing && this.#primitive && this.#state === 'value') this.#finish(Buffer.alloc(0), 0, 0);
    if (this.#state !== 'end' || this.#capturing) throw malformed('unexpected end');
    return this.#events.splice(0);
  }

  #begin(i: number, target: 'key' | 'value' | 'elem', string: boolean, primitive = false): number {
    this.#capturing = true;
    this.#target = target;
    this.#inString = string;
    this.#escape = false;
    this.#primitive = primitive;
    this.#depth = string || primitive ? 0 : 1;
    this.#parts = [];
    this.#size = 0;
    return i;
  }

  #keep(part: Buffer): void {
    this.#size += part.length;
    if (this.#size > MAX_VALUE_BYTES) throw new TesseraError('payload_too_large', `A record or header of the batch file is over ${MAX_VALUE_BYTES} bytes.`);
    if (part.length > 0) this.#parts.push(Buffer.from(part));
  }

  #finish(chunk: Buffer, start: number, end: number): void {
    this.#keep(chunk.subarray(start, end));
    this.#capturing = false;
    let value: unknown;
    try {
      value = JSON.parse(Buffer.concat(this.#parts).toString('utf8'));
    } catch {
      throw malformed(this.#target === 'elem' ? 'a record does not parse' : 'a value does not parse');
    }
    this.#parts = [];
    if (this.#target === 'key') {
      this.#key = String(value);
      this.#state = 'colon';
    } else if (this.#target === 'elem') {
      this.#events.push({ kind: 'record', value });
      this.#state = 'afterElem';
    } else {
      this.#events.push({ kind: 'field', key: this.#key, value });
      this.#state = 'after';
    }
  }
}
