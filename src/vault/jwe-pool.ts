import type { KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * Compact-JWE decryption (jose's `compactDecrypt`, as on the main thread) on a small pool of worker
 * threads. An issuer batch file carries one ECDH-ES JWE per record; WebCrypto runs the key agreement
 * on libuv's pool, but importing each ephemeral key, the KDF and the job plumbing cost the calling
 * thread ~300 µs per JWE: on the thread that also serves HTTP, runs SQLite and the jobs, that was a
 * third of a batch record's time. Here the calling thread only checks the header and posts.
 *
 * Requests made in the same turn of the event loop go out together (one message per worker), so a
 * chunk of 200 records costs a few messages. The threads start on first use and stop after
 * `IDLE_MS` without work: an idle server holds none (~20 MB each). A thread that dies fails nothing:
 * its requests are decrypted on the calling thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const keys = new Map();
let jose;
parentPort.on('message', async (m) => {
  if (m.kind === 'key') {
    keys.set(m.kid, m.key.toCryptoKey(m.algorithm, false, m.usages));
    return;
  }
  jose ??= await import(workerData.jose);
  const out = await Promise.all(m.items.map(async ([kid, jwe]) => {
    try {
      const { plaintext } = await jose.compactDecrypt(jwe, keys.get(kid), { keyManagementAlgorithms: [m.alg], contentEncryptionAlgorithms: [m.enc] });
      return plaintext;
    } catch {
      return null;
    }
  }));
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
  /** The private key, shareable with threads. */
  keyObject: KeyObject;
  /** WebCrypto import parameters, e.g. `{ name: 'ECDH', namedCurve: 'P-256' }` with `['deriveBits']`. */
  algorithm: { name: string; namedCurve?: string; hash?: string };
  usages: string[];
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
  readonly #alg: string;
  readonly #enc: string;
  /** Decrypts on the calling thread (a thread that died). Resolves null on failure. */
  readonly #local: (p: Pending) => Promise<Uint8Array | null>;
  #threads: Thread[] = [];
  #queue: Pending[] = [];
  #flushing = false;
  #nextId = 0;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(opts: { size: number; alg: string; enc: string; local: (key: PoolKey, jwe: string) => Promise<Uint8Array | null> }) {
    this.#size = opts.size;
    this.#alg = opts.alg;
    this.#enc = opts.enc;
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
        t.worker.postMessage({ kind: 'key', kid: p.key.kid, key: p.key.keyObject, algorithm: p.key.algorithm, usages: p.key.usages });
        t.kids.add(p.key.kid);
      }
      const id = this.#nextId++;
      t.inFlight.set(id, items);
      t.worker.postMessage({ kind: 'decrypt', id, alg: this.#alg, enc: this.#enc, items: items.map((p) => [p.key.kid, p.jwe]) });
    }
  }

  #spawn(): Thread {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { jose: import.meta.resolve('jose') },
      resourceLimits: { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 32 },
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
