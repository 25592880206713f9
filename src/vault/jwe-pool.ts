import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * ECDH-ES (P-256) + A256GCM compact-JWE decryption on a small pool of worker threads. An issuer
 * batch file carries one such JWE per record. jose over WebCrypto cost the calling thread ~300 µs per
 * JWE (the ephemeral key's import, the job plumbing; the key agreement itself ran on libuv's pool):
 * on the thread that also serves HTTP, runs SQLite and the jobs, a third of a batch record's time.
 * The ring (`jwe.ts`) still checks the header and picks the key with jose; a thread then does
 * RFC 7518 §4.6 with node:crypto, synchronously (~160 µs of CPU per JWE in all, messages included,
 * against ~220 µs for jose's WebCrypto path; and threads without jose are ~20 MB lighter each):
 * the ephemeral key imported as a JWK (OpenSSL refuses a point off the curve), ECDH, the Concat KDF
 * (one SHA-256 round: AlgorithmID "A256GCM", apu, apv, 256 bits), AES-256-GCM with the protected
 * header as AAD and a 16-byte tag. Anything else — an encrypted key part, a 96-bit IV missing, a bad
 * tag — is a failure, as jose would have it.
 *
 * Requests made in the same turn of the event loop go out together (a few messages per batch chunk:
 * posting costs the caller per message). The threads start on first use and stop after `IDLE_MS`
 * without work: an idle server holds none. A thread that dies fails nothing: its requests are
 * decrypted on the calling thread.
 */
const WORKER_SOURCE = `
const { createDecipheriv, createHash, createPublicKey, diffieHellman } = require('node:crypto');
const { parentPort } = require('node:worker_threads');
const keys = new Map();
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const field = (b) => Buffer.concat([u32(b.length), b]);
const ALGORITHM_ID = field(Buffer.from('A256GCM'));
function decrypt(privateKey, jwe) {
  const parts = jwe.split('.');
  if (parts.length !== 5 || parts[1] !== '') return null;
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  const epk = header.epk;
  if (header.alg !== 'ECDH-ES' || header.enc !== 'A256GCM' || header.zip !== undefined || header.crit !== undefined) return null;
  if (typeof epk !== 'object' || epk === null || epk.kty !== 'EC' || epk.crv !== 'P-256' || typeof epk.x !== 'string' || typeof epk.y !== 'string') return null;
  if ((header.apu !== undefined && typeof header.apu !== 'string') || (header.apv !== undefined && typeof header.apv !== 'string')) return null;
  const publicKey = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y }, format: 'jwk' });
  const z = diffieHellman({ privateKey, publicKey });
  const apu = Buffer.from(header.apu ?? '', 'base64url');
  const apv = Buffer.from(header.apv ?? '', 'base64url');
  const cek = createHash('sha256').update(u32(1)).update(z).update(ALGORITHM_ID).update(field(apu)).update(field(apv)).update(u32(256)).digest();
  const iv = Buffer.from(parts[2], 'base64url');
  const tag = Buffer.from(parts[4], 'base64url');
  if (iv.length !== 12 || tag.length !== 16) return null;
  const decipher = createDecipheriv('aes-256-gcm', cek, iv, { authTagLength: 16 });
  decipher.setAAD(Buffer.from(parts[0], 'ascii'));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(Buffer.from(parts[3], 'base64url')), decipher.final()]);
}
parentPort.on('message', (m) => {
  if (m.kind === 'key') {
    keys.set(m.kid, m.key);
    return;
  }
  const out = m.items.map(([kid, jwe]) => {
    const key = keys.get(kid);
    if (!key) return null;
    try {
      return decrypt(key, jwe);
    } catch {
      return null;
    }
  });
  parentPort.postMessage({ id: m.id, out });
});
`;

/** Threads stop after this long without work. 30 s. */
const IDLE_MS = 30_000;
/** Most JWEs in one message. */
const PER_MESSAGE = 64;

/** The pool's size by default: one thread per core, at most four. */
export const defaultJwePoolSize = () => Math.max(1, Math.min(4, availableParallelism()));

export interface PoolKey {
  kid: string;
  /** The EC P-256 private key, shareable with threads. */
  keyObject: KeyObject;
}

interface Pending {
  key: PoolKey;
  jwe: string;
  resolve: (plaintext: Uint8Array | null) => void;
}

interface Thread {
  worker: Worker;
  kids: Set<string>;
  inFlight: Map<number, Pending[]>;
}

export class JwePool {
  readonly #size: number;
  /** Decrypts on the calling thread (a thread that died). Resolves null on failure. */
  readonly #local: (p: Pending) => Promise<Uint8Array | null>;
  #threads: Thread[] = [];
  #queue: Pending[] = [];
  #flushing = false;
  #nextId = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(opts: { size: number; local: (key: PoolKey, jwe: string) => Promise<Uint8Array | null> }) {
    this.#size = opts.size;
    this.#local = (p) => opts.local(p.key, p.jwe);
  }

  /** The plaintext, or null when the JWE does not decrypt with `key`. */
  decrypt(key: PoolKey, jwe: string): Promise<Uint8Array | null> {
    return new Promise((resolve) => {
      this.#queue.push({ key, jwe, resolve });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Stops the threads (they start again on the next request). */
  async close(): Promise<void> {
    clearTimeout(this.#idleTimer);
    const threads = this.#threads;
    this.#threads = [];
    for (const t of threads) this.#fail(t);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #flush(): void {
    this.#flushing = false;
    clearTimeout(this.#idleTimer);
    while (this.#threads.length < this.#size) this.#threads.push(this.#spawn());
    const queue = this.#queue;
    this.#queue = [];
    // Split evenly, at most PER_MESSAGE a message, each part to the least busy thread.
    const parts = Math.max(Math.ceil(queue.length / PER_MESSAGE), Math.min(this.#size, queue.length));
    const per = Math.ceil(queue.length / parts);
    for (let i = 0; i < queue.length; i += per) {
      const items = queue.slice(i, i + per);
      const t = this.#threads.reduce((a, b) => (load(b) < load(a) ? b : a));
      for (const p of items) {
        if (t.kids.has(p.key.kid)) continue;
        t.worker.postMessage({ kind: 'key', kid: p.key.kid, key: p.key.keyObject });
        t.kids.add(p.key.kid);
      }
      const id = this.#nextId++;
      t.inFlight.set(id, items);
      t.worker.postMessage({ kind: 'decrypt', id, items: items.map((p) => [p.key.kid, p.jwe]) });
    }
  }

  #spawn(): Thread {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16, codeRangeSizeMb: 8 },
    });
    const t: Thread = { worker, kids: new Set(), inFlight: new Map() };
    worker.unref();
    worker.on('message', (m: { id: number; out: (Uint8Array | null)[] }) => {
      const items = t.inFlight.get(m.id);
      if (!items) return;
      t.inFlight.delete(m.id);
      items.forEach((p, i) => p.resolve(m.out[i] ?? null));
      this.#maybeIdle();
    });
    const gone = () => {
      this.#threads = this.#threads.filter((x) => x !== t);
      this.#fail(t);
    };
    worker.on('error', gone);
    worker.on('exit', gone);
    return t;
  }

  /** A thread's requests in flight go to the calling thread. */
  #fail(t: Thread): void {
    const items = [...t.inFlight.values()].flat();
    t.inFlight.clear();
    for (const p of items) void this.#local(p).then(p.resolve, () => p.resolve(null));
  }

  #maybeIdle(): void {
    if (this.#queue.length > 0 || this.#threads.some((t) => t.inFlight.size > 0)) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => void this.close(), IDLE_MS);
    this.#idleTimer.unref();
  }
}

function load(t: Thread): number {
  let n = 0;
  for (const items of t.inFlight.values()) n += items.length;
  return n;
}
