import { createHmac, type KeyObject } from 'node:crypto';

const ROUNDS = 10;

/**
 * The sandbox TSP's token numbers: a token BIN, then a token's serial number run through a keyed
 * permutation of its digits, then a Luhn check digit. Serials are handed out in order, so the
 * store's lookup key of a token number (`lookupKey`) is a sequential one, and a token number gives
 * its serial back without any index keyed by a MAC of it (each such index costs a random-position
 * insert per token: on SQLite a 4 KB WAL page each). The numbers still look random and never repeat.
 *
 * The permutation is an alternating Feistel network over decimal digits (the shape of NIST FF1,
 * 10 rounds) whose round function is a keyed 32-bit mixer, not a block cipher: it is a simulator's
 * numbering, which must be unique and not plainly sequential, not a secret (what protects a
 * payment with a token is its cryptogram, and the sandbox's card data is sealed, `vault/cipher.ts`).
 */
export class TokenNumbering {
  readonly #keys: Uint32Array;

  constructor(key: KeyObject) {
    const digest = createHmac('sha256', key).update('sandbox-token-numbers').digest();
    this.#keys = new Uint32Array(ROUNDS);
    for (let i = 0; i < ROUNDS; i++) this.#keys[i] = digest.readUInt32BE((i * 4) % 32) ^ Math.imul(i + 1, 0x9e3779b9);
  }

  /** The `digits`-digit number of serial `serial` (0 ≤ serial < 10^digits), zero-padded. */
  encode(serial: number, digits: number): string {
    const [u, v] = split(digits);
    let a = Math.floor(serial / 10 ** v);
    let b = serial % 10 ** v;
    for (let i = 0; i < ROUNDS; i++) {
      const m = i % 2 === 0 ? u : v;
      const c = (a + this.#round(i, b)) % 10 ** m;
      a = b;
      b = c;
    }
    return String(a * 10 ** v + b).padStart(digits, '0');
  }

  /** The serial whose number is `number` (all digits). */
  decode(number: string): number {
    const digits = number.length;
    const [u, v] = split(digits);
    const x = Number(number);
    let a = Math.floor(x / 10 ** v);
    let b = x % 10 ** v;
    for (let i = ROUNDS - 1; i >= 0; i--) {
      const m = i % 2 === 0 ? u : v;
      const c = b;
      b = a;
      a = (((c - this.#round(i, b)) % 10 ** m) + 10 ** m) % 10 ** m;
    }
    return a * 10 ** v + b;
  }

  #round(i: number, x: number): number {
    let h = Math.imul(x ^ this.#keys[i]!, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }
}

/** FF1's split: u = ⌊n/2⌋ digits on the left, v = n − u on the right. */
function split(digits: number): [number, number] {
  const u = Math.floor(digits / 2);
  return [u, digits - u];
}

/** The store's lookup key of the token with `serial` under token BIN `prefix`: `#<prefix><serial, zero-padded>` (in serial order). */
export function lookupKey(prefix: string, serial: number, digits: number): string {
  return `#${prefix}${String(serial).padStart(digits, '0')}`;
}
