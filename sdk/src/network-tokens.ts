import type { JWK } from 'jose';
import { decryptJwe, encryptToJwk, KeyCache, type Key } from './crypto.ts';
import { TesseraApiError } from './errors.ts';
import { Transport, type ClientOptions } from './transport.ts';
import type {
  AsyncTokenResult,
  BatchResult,
  BatchResults,
  BatchStatus,
  CofJwks,
  IssuerEventInput,
  MerchantSettings,
  MerchantSettingsInput,
  NetworkToken,
  NetworkTransaction,
  SandboxAuthorization,
  SandboxAuthorizationInput,
  SandboxStats,
  TokenSource,
  TransactionType,
} from './types.ts';

export interface NetworkTokenClientOptions extends ClientOptions {
  /** Your merchant id: filled into `merchantId` of every body. */
  merchantId: string;
  /** Your private key (sent as `authorization: APIKEY <key>`). */
  apiKey: string;
  /** How long Tessera's published key set is kept before it is fetched again. Default 300 000 ms. */
  keysTtlMs?: number;
}

/**
 * What goes inside `encryptedData` (these travel only encrypted, so they are not in the OpenAPI
 * document): card details for `MANUAL` / `ON_FILE`, a permanent vault token for `TOKEN`.
 */
export interface CardData {
  fpan: string;
  /** MMYY. */
  exp: string;
  name?: string;
  cvv?: string;
  accountId?: string;
  /** Required for American Express. */
  email?: string;
}
export interface VaultTokenData {
  token: string;
  accountId?: string;
  email?: string;
}
/** One record of a bulk tokenization chunk. */
export interface BatchRecord extends CardData {
  rowId: string;
}
/** The decrypted `encryptedData` of a transaction. */
export interface TransactionCredentials {
  tokenPan: string;
  tokenExpiryDate: string;
  cryptogram: string;
}

/** Per-call options of the `/cof/v1` face. */
export interface CofCallOptions {
  /** `x-correlation-id` (1–36 printable characters). Default: a fresh UUID. */
  correlationId?: string;
  /** Your own `Idempotency-Key` for POSTs. */
  idempotencyKey?: string;
}

export type TokenRequest = { source?: Exclude<TokenSource, 'TOKEN'>; card: CardData } | { source: 'TOKEN'; vaultToken: VaultTokenData } | { source: TokenSource; encryptedData: string };

/**
 * The network tokenization face (`/cof/v1`, Thales style) and the sandbox network (`/sandbox/v1`):
 * `APIKEY` auth, an `x-correlation-id` on every call, card data JWE-encrypted to Tessera's
 * published RSA key (`RSA-OAEP-256` + `A256GCM`) by the SDK.
 */
export class NetworkTokenClient {
  readonly merchantId: string;
  readonly #t: Transport;
  readonly #auth: string;
  readonly #keys: KeyCache;

  constructor(options: NetworkTokenClientOptions) {
    if (!options.merchantId || !options.apiKey) throw new TypeError('merchantId and apiKey are required');
    this.merchantId = options.merchantId;
    this.#t = new Transport(options);
    this.#auth = `APIKEY ${options.apiKey}`;
    this.#keys = new KeyCache(() => this.keys(), options.keysTtlMs ?? 300_000);
  }

  #headers(opts: CofCallOptions): Record<string, string> {
    return { authorization: this.#auth, 'x-correlation-id': opts.correlationId ?? crypto.randomUUID() };
  }

  /** Tessera's published encryption keys (`GET /cof/v1/keys`, no auth). */
  keys(): Promise<CofJwks & { keys: JWK[] }> {
    return this.#t.call({ op: 'GET /cof/v1/keys' });
  }

  /** A compact JWE of `data` to Tessera's current key, for `encryptedData`. */
  async encryptCard(data: CardData | VaultTokenData | { records: BatchRecord[] }): Promise<string> {
    return encryptToJwk(data, await this.#keys.current(), 'RSA-OAEP-256');
  }

  async #encryptedBody(req: TokenRequest) {
    if ('encryptedData' in req) return { merchantId: this.merchantId, encryptedData: req.encryptedData, source: req.source };
    if ('vaultToken' in req) return { merchantId: this.merchantId, encryptedData: await this.encryptCard(req.vaultToken), source: 'TOKEN' as const };
    return { merchantId: this.merchantId, encryptedData: await this.encryptCard(req.card), source: req.source ?? ('ON_FILE' as const) };
  }

  /** `PATCH /cof/v1/merchants/:merchantId`: your notification URL and your RSA public keys. */
  updateSettings(input: MerchantSettingsInput, opts: CofCallOptions = {}): Promise<MerchantSettings> {
    return this.#t.call({ op: 'PATCH /cof/v1/merchants/{merchantId}', path: { merchantId: this.merchantId }, body: input, headers: this.#headers(opts) });
  }

  readonly tokens = {
    /** Synchronous creation: `201` with the token. A key rotated since it was fetched is fetched again once. */
    create: (req: TokenRequest, opts: CofCallOptions = {}): Promise<NetworkToken> =>
      this.#withFreshKey(req, async () => this.#t.call({ op: 'POST /cof/v1/tokens', body: await this.#encryptedBody(req), headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey })),
    /** Asynchronous creation: `202 {requestId}`; the result is notified with this `correlationId` (returned too). */
    createAsync: (req: TokenRequest, opts: CofCallOptions = {}): Promise<{ requestId: string; correlationId: string }> =>
      this.#withFreshKey(req, async () => {
        const headers = this.#headers(opts);
        const { requestId } = await this.#t.call<{ requestId: string }>({ op: 'POST /cof/v1/async-tokens', body: await this.#encryptedBody(req), headers, idempotencyKey: opts.idempotencyKey });
        return { requestId, correlationId: headers['x-correlation-id']! };
      }),
    /** The result of an async request (`requestStatus` PENDING / SUCCEEDED / FAILED). */
    getAsyncResult: (requestId: string, opts: CofCallOptions = {}): Promise<AsyncTokenResult> =>
      this.#t.call({ op: 'GET /cof/v1/async-tokens/{requestId}', path: { requestId }, headers: this.#headers(opts) }),
    get: (tokenId: string, opts: CofCallOptions = {}): Promise<NetworkToken> =>
      this.#t.call({ op: 'GET /cof/v1/tokens/{tokenId}', path: { tokenId }, headers: this.#headers(opts) }),
    suspend: (tokenId: string, opts: CofCallOptions = {}): Promise<NetworkToken> =>
      this.#t.call({ op: 'POST /cof/v1/tokens/{tokenId}/suspend', path: { tokenId }, headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey }),
    resume: (tokenId: string, opts: CofCallOptions = {}): Promise<NetworkToken> =>
      this.#t.call({ op: 'POST /cof/v1/tokens/{tokenId}/resume', path: { tokenId }, headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey }),
    delete: (tokenId: string, opts: CofCallOptions = {}): Promise<NetworkToken> =>
      this.#t.call({ op: 'DELETE /cof/v1/tokens/{tokenId}', path: { tokenId }, headers: this.#headers(opts) }),
  };

  readonly transactions = {
    /** Payment credentials for one transaction: `encryptedData` is a JWE to your registered key (see `decryptCredentials`). */
    create: (tokenId: string, opts: CofCallOptions & { transactionType?: TransactionType } = {}): Promise<NetworkTransaction> =>
      this.#t.call({ op: 'POST /cof/v1/transactions', body: { tokenId, transactionType: opts.transactionType ?? 'SINGLE' }, headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey }),
  };

  /** Bulk tokenization (`/cof/v1/batches`). */
  readonly batches = {
    /** Encrypts and appends a chunk (≤ 10,000 records); `last: true` closes the batch. */
    submit: async (batchId: string, records: BatchRecord[], opts: CofCallOptions & { last?: boolean } = {}): Promise<BatchStatus> =>
      this.#t.call({
        op: 'POST /cof/v1/batches',
        body: { merchantId: this.merchantId, batchId, last: opts.last ?? false, encryptedData: await this.encryptCard({ records }) },
        headers: this.#headers(opts),
        idempotencyKey: opts.idempotencyKey,
      }),
    get: (batchId: string, opts: CofCallOptions = {}): Promise<BatchStatus> =>
      this.#t.call({ op: 'GET /cof/v1/batches/{batchId}', path: { batchId }, headers: this.#headers(opts) }),
    results: (batchId: string, query: { limit?: number; cursor?: string } = {}, opts: CofCallOptions = {}): Promise<BatchResults> =>
      this.#t.call({ op: 'GET /cof/v1/batches/{batchId}/results', path: { batchId }, query, headers: this.#headers(opts) }),
    /** Every result available now, page after page (stops before the first record still being processed). */
    allResults: (batchId: string, opts: CofCallOptions = {}): AsyncGenerator<BatchResult> => this.#allResults(batchId, opts),
  };

  /** The simulated card network (not in production). */
  readonly sandbox = {
    authorize: (input: Omit<SandboxAuthorizationInput, 'merchantId'>, opts: CofCallOptions = {}): Promise<SandboxAuthorization> =>
      this.#t.call({ op: 'POST /sandbox/v1/authorizations', body: { merchantId: this.merchantId, ...input }, headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey }),
    issuerEvent: (input: IssuerEventInput, opts: CofCallOptions = {}): Promise<{ tokensAffected: number }> =>
      this.#t.call({ op: 'POST /sandbox/v1/issuer-events', body: input, headers: this.#headers(opts), idempotencyKey: opts.idempotencyKey }),
    stats: (): Promise<SandboxStats> => this.#t.call({ op: 'GET /sandbox/v1/stats', headers: this.#headers({}) }),
  };

  async *#allResults(batchId: string, opts: CofCallOptions): AsyncGenerator<BatchResult> {
    let cursor: string | undefined;
    for (;;) {
      const page = await this.batches.results(batchId, { limit: 1000, ...(cursor ? { cursor } : {}) }, opts);
      yield* page.results;
      if (!page.nextCursor || page.results.length === 0) return;
      cursor = page.nextCursor;
    }
  }

  /** After a key rotation, Tessera refuses the old `kid` (`unknown_key`): fetch the keys again once and re-encrypt. */
  async #withFreshKey<T>(req: TokenRequest, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      if ('encryptedData' in req || !(err instanceof TesseraApiError) || err.code !== 'unknown_key') throw err;
      await this.#keys.current(true);
      return send();
    }
  }
}

/** Decrypts a transaction's `encryptedData` with your RSA private key (a `CryptoKey`, `KeyObject` or private JWK). */
export function decryptCredentials(encryptedData: string, privateKey: Key | JWK): Promise<TransactionCredentials> {
  return decryptJwe<TransactionCredentials>(encryptedData, privateKey);
}
