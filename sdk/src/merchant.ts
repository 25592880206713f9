import { Transport, type ClientOptions } from './transport.ts';
import type {
  AuditList,
  AuditQuery,
  CardInput,
  Customer,
  CustomerInput,
  Deleted,
  Delivery,
  Order,
  OrderInput,
  OrderList,
  OrderListQuery,
  RefundCreated,
  RefundInput,
  SavedCard,
  TokenInput,
  TokenMetadata,
  Webhook,
  WebhookInput,
} from './types.ts';

export interface MerchantClientOptions extends ClientOptions {
  /** The merchant's public key (from `tessera merchants create`). */
  publicKey: string;
  /** The merchant's private key. Never sent anywhere but `POST /api/authorizations/token`. */
  privateKey: string;
  /** Log in again this long before the authorization token expires. Default 60 000 ms. */
  refreshMarginMs?: number;
}

/** Per-call options of POSTs. */
export interface PostOptions {
  /** Your own `Idempotency-Key` (default: a fresh one per call, reused by the SDK's retries). */
  idempotencyKey?: string;
}

/** Seconds since the epoch at which a JWT expires, or undefined when it does not say. */
export function jwtExpiry(jwt: string): number | undefined {
  try {
    const b64 = (jwt.split('.')[1] ?? '').replaceAll('-', '+').replaceAll('_', '/');
    const payload = JSON.parse(atob(b64)) as { exp?: unknown };
    return typeof payload.exp === 'number' ? payload.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The merchant vault face (`/api`, Ecart Pay style): logs in with the key pair, keeps the one-hour
 * authorization token and logs in again before it expires (or at once after a 401).
 */
export class MerchantClient {
  readonly #t: Transport;
  readonly #basic: string;
  readonly #marginMs: number;
  #token: { jwt: string; expiresAtMs: number } | undefined;
  #login: Promise<string> | undefined;

  constructor(options: MerchantClientOptions) {
    if (!options.publicKey || !options.privateKey) throw new TypeError('publicKey and privateKey are required');
    this.#t = new Transport(options);
    this.#basic = 'Basic ' + btoa(`${options.publicKey}:${options.privateKey}`);
    this.#marginMs = options.refreshMarginMs ?? 60_000;
  }

  /** A live authorization token (`Authorization: <JWT>` on every `/api` call), logging in when needed. */
  async authorizationToken(forceRefresh = false): Promise<string> {
    if (!forceRefresh && this.#token && Date.now() < this.#token.expiresAtMs - this.#marginMs) return this.#token.jwt;
    // One login at a time: concurrent calls share it.
    this.#login ??= (async () => {
      try {
        const { token } = await this.#t.call<{ token: string }>({ op: 'POST /api/authorizations/token', headers: { authorization: this.#basic }, idempotencyKey: false });
        const exp = jwtExpiry(token);
        this.#token = { jwt: token, expiresAtMs: exp !== undefined ? exp * 1000 : Date.now() + 3_600_000 };
        return token;
      } finally {
        this.#login = undefined;
      }
    })();
    return this.#login;
  }

  readonly #auth = (refresh: boolean) => this.authorizationToken(refresh);

  readonly customers = {
    create: (input: CustomerInput, opts: PostOptions = {}): Promise<Customer> =>
      this.#t.call({ op: 'POST /api/customers', body: input, auth: this.#auth, ...opts }),
    get: (id: string): Promise<Customer> => this.#t.call({ op: 'GET /api/customers/{id}', path: { id }, auth: this.#auth }),
  };

  /** A customer's saved cards. */
  readonly cards = {
    /** Saves a card (`201`); the same card again answers the saved one (`200`). */
    save: (customerId: string, card: CardInput, opts: PostOptions = {}): Promise<SavedCard> =>
      this.#t.call({ op: 'POST /api/customers/{id}/cards', path: { id: customerId }, body: card, auth: this.#auth, ...opts }),
    list: async (customerId: string): Promise<SavedCard[]> =>
      (await this.#t.call<{ data: SavedCard[] }>({ op: 'GET /api/customers/{id}/cards', path: { id: customerId }, auth: this.#auth })).data,
    delete: (customerId: string, cardId: string): Promise<Deleted> =>
      this.#t.call({ op: 'DELETE /api/customers/{id}/cards/{cardId}', path: { id: customerId, cardId }, auth: this.#auth }),
  };

  /** Vault tokens: temporary (15 minutes) from card details, or permanent after a validation hold. */
  readonly tokens = {
    /** `{id}` of a saved card or raw card details; declines reject with a 402 `TesseraApiError` (`declineCode`). */
    create: async (input: TokenInput, opts: PostOptions = {}): Promise<string> =>
      (await this.#t.call<{ token: string }>({ op: 'POST /api/tokens', body: input, auth: this.#auth, ...opts })).token,
    get: (token: string): Promise<TokenMetadata> => this.#t.call({ op: 'GET /api/tokens/{token}', path: { token }, auth: this.#auth }),
    delete: (token: string): Promise<Deleted> => this.#t.call({ op: 'DELETE /api/tokens/{token}', path: { token }, auth: this.#auth }),
  };

  readonly orders = {
    /** With a `token`, paid at once; a decline rejects with a 402 `TesseraApiError` whose `body.order` is the order left `created`. */
    create: (input: OrderInput, opts: PostOptions = {}): Promise<Order> => this.#t.call({ op: 'POST /api/orders', body: input, auth: this.#auth, ...opts }),
    get: (id: string): Promise<Order> => this.#t.call({ op: 'GET /api/orders/{id}', path: { id }, auth: this.#auth }),
    list: (query: OrderListQuery = {}): Promise<OrderList> => this.#t.call({ op: 'GET /api/orders', query, auth: this.#auth }),
    /** Every order (newest first), page after page. */
    all: (query: Omit<OrderListQuery, 'cursor'> = {}): AsyncGenerator<Order> =>
      paginate((cursor) => this.#t.call<OrderList>({ op: 'GET /api/orders', query: { ...query, cursor }, auth: this.#auth })),
    /** Refunds all that is left, or `amount`. */
    refund: (id: string, input: RefundInput = {}, opts: PostOptions = {}): Promise<RefundCreated> =>
      this.#t.call({ op: 'POST /api/orders/{id}/refunds', path: { id }, body: input, auth: this.#auth, ...opts }),
  };

  readonly webhooks = {
    create: (input: WebhookInput, opts: PostOptions = {}): Promise<Webhook> => this.#t.call({ op: 'POST /api/webhooks', body: input, auth: this.#auth, ...opts }),
    list: async (): Promise<Webhook[]> => (await this.#t.call<{ data: Webhook[] }>({ op: 'GET /api/webhooks', auth: this.#auth })).data,
    delete: (id: string): Promise<Deleted> => this.#t.call({ op: 'DELETE /api/webhooks/{id}', path: { id }, auth: this.#auth }),
    deliveries: async (id: string): Promise<Delivery[]> =>
      (await this.#t.call<{ data: Delivery[] }>({ op: 'GET /api/webhooks/{id}/deliveries', path: { id }, auth: this.#auth })).data,
    retryDelivery: (id: string, deliveryId: string, opts: PostOptions = {}): Promise<Delivery> =>
      this.#t.call({ op: 'POST /api/webhooks/{id}/deliveries/{deliveryId}/retry', path: { id, deliveryId }, auth: this.#auth, ...opts }),
  };

  readonly audit = {
    list: (query: AuditQuery = {}): Promise<AuditList> => this.#t.call({ op: 'GET /api/audit', query, auth: this.#auth }),
    all: (): AsyncGenerator<AuditList['data'][number]> => paginate((cursor) => this.#t.call<AuditList>({ op: 'GET /api/audit', query: { cursor }, auth: this.#auth })),
  };
}

/** Walks `{data, next_cursor}` pages. */
async function* paginate<T>(page: (cursor: string | undefined) => Promise<{ data: T[]; next_cursor: string | null }>): AsyncGenerator<T> {
  let cursor: string | undefined;
  for (;;) {
    const p = await page(cursor);
    yield* p.data;
    if (!p.next_cursor) return;
    cursor = p.next_cursor;
  }
}
