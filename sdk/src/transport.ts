import { apiErrorFrom, TesseraApiError, TesseraError, TesseraNetworkError, type Face } from './errors.ts';
import type { OperationKey } from './types.ts';

/** Options every client takes. */
export interface ClientOptions {
  /** Tessera's origin, e.g. `http://127.0.0.1:8080` (a path prefix is kept). Required. */
  baseUrl: string;
  /** The fetch to call. Default: the global `fetch`. Inject one for tests, proxies or tracing. */
  fetch?: typeof fetch;
  /** Retries of a retryable failure (429, 5xx, no answer). Default 2 (three attempts in all). */
  maxRetries?: number;
  /** Backoff before the first retry; doubles on each, plus up to 20 % jitter. Default 200 ms. */
  retryBaseMs?: number;
  /** The longest wait before one retry; a `retry-after` longer than this ends the retries at once. Default 10 000 ms. */
  maxRetryDelayMs?: number;
  /** Per attempt, until the answer's headers. Default 30 000 ms. */
  timeoutMs?: number;
  /** Makes idempotency keys for POSTs. Default `crypto.randomUUID()`. */
  idempotencyKey?: () => string;
}

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** One call. `op` is the operation's `METHOD /path template` (also what errors name: never a filled-in path). */
export interface CallSpec {
  op: OperationKey;
  path?: Record<string, string | number>;
  query?: Record<string, string | number | undefined> | undefined;
  /** JSON body. */
  body?: unknown;
  /** A form body (the OAuth token endpoint). */
  form?: URLSearchParams;
  /** A body sent as is with `content-type: application/json` (batch files). */
  raw?: string;
  headers?: Record<string, string>;
  /** The `authorization` header; called again with `true` after a 401 (a token to refresh). */
  auth?: (refresh: boolean) => Promise<string>;
  /**
   * POSTs carry an `Idempotency-Key`, generated once and sent unchanged on every retry, so a retried
   * POST is done once. `false` for calls that have none (logins, streamed uploads); a string to use yours.
   */
  idempotencyKey?: string | false;
}

export interface Answer<T> {
  status: number;
  data: T;
  headers: Headers;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The face whose envelope an answer uses: by path, as the server decides. */
function faceOf(path: string): Face {
  if (path.startsWith('/api/')) return 'merchant';
  if (path.startsWith('/banking/')) return 'banking';
  if (path.startsWith('/authz/')) return 'oauth';
  if (path.startsWith('/sandbox/')) return 'sandbox';
  return 'cof';
}

/** Sends calls with retries, idempotency keys and error mapping. One per client. */
export class Transport {
  readonly baseUrl: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  readonly #retryBaseMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #timeoutMs: number;
  readonly #newKey: () => string;

  constructor(options: ClientOptions) {
    if (!options?.baseUrl) throw new TypeError('baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#maxRetries = options.maxRetries ?? 2;
    this.#retryBaseMs = options.retryBaseMs ?? 200;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 10_000;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#newKey = options.idempotencyKey ?? (() => crypto.randomUUID());
  }

  /** The URL of a path template with its parameters filled in (each encoded). */
  url(spec: Pick<CallSpec, 'op' | 'path' | 'query'>): string {
    const template = spec.op.slice(spec.op.indexOf(' ') + 1);
    const path = template.replace(/\{(\w+)\}/g, (_m, name: string) => {
      const value = spec.path?.[name];
      if (value === undefined || value === '') throw new TypeError(`${name} is required`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    return `${this.baseUrl}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Sends a call; resolves with the 2xx answer, rejects with a `TesseraError`. */
  async send<T>(spec: CallSpec): Promise<Answer<T>> {
    const method = spec.op.slice(0, spec.op.indexOf(' ')) as Method;
    const template = spec.op.slice(spec.op.indexOf(' ') + 1);
    const url = this.url(spec);
    const face = faceOf(template);
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    let body: string | undefined;
    if (spec.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = spec.form.toString();
    } else if (spec.raw !== undefined) {
      headers['content-type'] = 'application/json';
      body = spec.raw;
    } else if (spec.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.body);
    }
    if (method === 'POST' && spec.idempotencyKey !== false) headers['idempotency-key'] = spec.idempotencyKey ?? this.#newKey();

    let refreshed = false;
    for (let attempt = 0; ; attempt++) {
      if (spec.auth) headers.authorization = await spec.auth(false);
      let error: TesseraError;
      try {
        const res = await this.#fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.#timeoutMs) });
        const data = await readBody(res);
        if (res.ok) return { status: res.status, data: data as T, headers: res.headers };
        error = apiErrorFrom(face, res.status, data, res.headers);
        // A token that expired or was revoked early: log in again once, then send the same call.
        if (res.status === 401 && spec.auth && !refreshed) {
          refreshed = true;
          headers.authorization = await spec.auth(true);
          attempt--;
          continue;
        }
      } catch (err) {
        if (err instanceof TesseraError) throw err;
        const reason = (err as { name?: string })?.name === 'TimeoutError' ? 'timed out' : 'failed';
        error = new TesseraNetworkError(`${spec.op} ${reason}: no answer from Tessera.`, { cause: err });
      }
      if (!error.retryable || attempt >= this.#maxRetries) throw error;
      const backoff = this.#retryBaseMs * 2 ** attempt * (1 + Math.random() * 0.2);
      const after = error instanceof TesseraApiError && error.retryAfterS !== undefined ? error.retryAfterS * 1000 : 0;
      const delay = Math.max(backoff, after);
      if (delay > this.#maxRetryDelayMs) throw error;
      await sleep(delay);
    }
  }

  /** `send` for the body alone. */
  async call<T>(spec: CallSpec): Promise<T> {
    return (await this.send<T>(spec)).data;
  }
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (text === '') return undefined;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json')) {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }
  return text;
}
