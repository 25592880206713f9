import { SignJWT, type JWK } from 'jose';
import { canonicalize, decryptJwe, encryptToJwk, importSigningKey, KeyCache, signDetached, type Key, type SigningKey } from './crypto.ts';
import { TesseraApiError } from './errors.ts';
import { Transport, type ClientOptions } from './transport.ts';
import type { TransactionCredentials } from './network-tokens.ts';
import type {
  AccessToken,
  ClickToPayOperation,
  EnrolmentInput,
  IssuerBatchFile,
  IssuerBatchOutput,
  IssuerBatchStatus,
  IssuerCard,
  IssuerJwks,
  IssuerToken,
  IssuerTransaction,
  PersonalInformation,
} from './types.ts';

export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface IssuerClientOptions extends ClientOptions {
  /** Your issuer id (10 characters). */
  issuerId: string;
  /** The ES256 private key whose public half you registered: a JWK with `d` and `kid`, or `{key, kid}`. */
  signingKey: SigningKey;
  /** Lifetime of each OAuth assertion. At most 900 s (Tessera's limit). Default 300 s. */
  assertionTtlS?: number;
  /** Ask for a new access token this long before the current one expires. Default 60 000 ms. */
  refreshMarginMs?: number;
  /** How long Tessera's published key set is kept. Default 300 000 ms. */
  keysTtlMs?: number;
}

/** Card data a card is registered with; it travels only encrypted (`encryptedData`). */
export interface IssuerCardData {
  pan: string;
  /** MMYY. */
  exp: string;
  cardholderName?: string;
}

/** One consumer of a batch file, with the clear card data the SDK encrypts. */
export interface BatchFileRecordInput {
  rowId: string | number;
  consumerId: string;
  personalInformation: PersonalInformation;
  cards: ({ cardId: string } & ({ card: IssuerCardData } | { encryptedData: string }))[];
}

export interface BatchFileInput {
  batchId: string;
  seqNumber: number;
  clickToPayAutoEnrolment?: boolean;
  records: BatchFileRecordInput[];
}

/** A terminal Click to Pay status. */
const DONE = new Set(['SUCCESSFUL', 'FAILED']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The issuer face (`/authz/v1`, `/banking/v1/issuers/:issuerId`, Thales D1 style). Logs in with
 * the OAuth 2.0 JWT-bearer grant (an ES256 assertion signed by your key, `iss` = issuerId, a fresh
 * `jti`), keeps the access token until shortly before it expires, and encrypts card data to
 * Tessera's EC key (`ECDH-ES` + `A256GCM`).
 */
export class IssuerClient {
  readonly issuerId: string;
  readonly #t: Transport;
  readonly #signing: Promise<{ key: Key; kid: string }>;
  readonly #ttlS: number;
  readonly #marginMs: number;
  readonly #keys: KeyCache;
  #token: { value: string; expiresAtMs: number } | undefined;
  #login: Promise<string> | undefined;

  constructor(options: IssuerClientOptions) {
    if (!options.issuerId || !options.signingKey) throw new TypeError('issuerId and signingKey are required');
    this.issuerId = options.issuerId;
    this.#t = new Transport(options);
    this.#signing = importSigningKey(options.signingKey);
    // Callers see a bad key when they first call, not as an unhandled rejection now.
    this.#signing.catch(() => undefined);
    this.#ttlS = Math.min(options.assertionTtlS ?? 300, 900);
    this.#marginMs = options.refreshMarginMs ?? 60_000;
    this.#keys = new KeyCache(() => this.keys(), options.keysTtlMs ?? 300_000);
  }

  /** A signed JWT-bearer assertion for the token endpoint. */
  async assertion(): Promise<string> {
    const { key, kid } = await this.#signing;
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid })
      .setIssuer(this.issuerId)
      .setAudience(`${this.#t.baseUrl}/authz/v1/oauth2/token`)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#ttlS)
      .sign(key);
  }

  /** A live access token, from the cache or a new JWT-bearer grant. */
  async accessToken(forceRefresh = false): Promise<string> {
    if (!forceRefresh && this.#token && Date.now() < this.#token.expiresAtMs - this.#marginMs) return this.#token.value;
    this.#login ??= (async () => {
      try {
        const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion: await this.assertion() });
        const token = await this.#t.call<AccessToken>({ op: 'POST /authz/v1/oauth2/token', form, idempotencyKey: false });
        this.#token = { value: token.access_token, expiresAtMs: Date.now() + token.expires_in * 1000 };
        return token.access_token;
      } finally {
        this.#login = undefined;
      }
    })();
    return this.#login;
  }

  readonly #auth = async (refresh: boolean) => `Bearer ${await this.accessToken(refresh)}`;

  #path(extra: Record<string, string> = {}) {
    return { issuerId: this.issuerId, ...extra };
  }

  /** Tessera's EC encryption keys (`GET /banking/v1/keys`, no auth). */
  keys(): Promise<IssuerJwks & { keys: JWK[] }> {
    return this.#t.call({ op: 'GET /banking/v1/keys' });
  }

  /** A compact JWE (`ECDH-ES` + `A256GCM`) of card data to Tessera's current key, for `encryptedData`. */
  async encryptCard(card: IssuerCardData): Promise<string> {
    return encryptToJwk(card, await this.#keys.current(), 'ECDH-ES');
  }

  readonly consumers = {
    /** Creates (`201`) or replaces (`200`) a consumer. Click to Pay needs an email and a phone. */
    put: (consumerId: string, personalInformation: PersonalInformation): Promise<{ consumerId: string }> =>
      this.#t.call({ op: 'PUT /banking/v1/issuers/{issuerId}/consumers/{consumerId}', path: this.#path({ consumerId }), body: { personalInformation }, auth: this.#auth }),
  };

  readonly cards = {
    /** Registers or replaces a card; the SDK encrypts `card` (or pass your own `encryptedData`). */
    put: async (cardId: string, input: { consumerId: string } & ({ card: IssuerCardData } | { encryptedData: string })): Promise<IssuerCard> => {
      const send = async () => {
        const encryptedData = 'card' in input ? await this.encryptCard(input.card) : input.encryptedData;
        return this.#t.call<IssuerCard>({
          op: 'PUT /banking/v1/issuers/{issuerId}/cards/{cardId}',
          path: this.#path({ cardId }),
          body: { consumerId: input.consumerId, encryptedData },
          auth: this.#auth,
        });
      };
      try {
        return await send();
      } catch (err) {
        // A rotated key: fetch the key set again once and re-encrypt.
        if (!('card' in input) || !(err instanceof TesseraApiError) || err.code !== 'unknown_key') throw err;
        await this.#keys.current(true);
        return send();
      }
    },
    get: (cardId: string): Promise<IssuerCard> => this.#t.call({ op: 'GET /banking/v1/issuers/{issuerId}/cards/{cardId}', path: this.#path({ cardId }), auth: this.#auth }),
  };

  /** eCom tokens and their lifecycle. */
  readonly tokens = {
    /** eCom enablement: a network token for the card (declines reject with a 402 `TesseraApiError`). */
    create: (cardId: string, opts: { idempotencyKey?: string } = {}): Promise<IssuerToken> =>
      this.#t.call({ op: 'POST /banking/v1/issuers/{issuerId}/cards/{cardId}/tokens', path: this.#path({ cardId }), auth: this.#auth, ...opts }),
    list: async (cardId: string): Promise<IssuerToken[]> =>
      (await this.#t.call<{ tokens: IssuerToken[] }>({ op: 'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/tokens', path: this.#path({ cardId }), auth: this.#auth })).tokens,
    get: (tokenId: string): Promise<IssuerToken> => this.#t.call({ op: 'GET /banking/v1/issuers/{issuerId}/tokens/{tokenId}', path: this.#path({ tokenId }), auth: this.#auth }),
    suspend: (tokenId: string): Promise<IssuerToken> =>
      this.#t.call({ op: 'POST /banking/v1/issuers/{issuerId}/tokens/{tokenId}/suspend', path: this.#path({ tokenId }), auth: this.#auth }),
    resume: (tokenId: string): Promise<IssuerToken> =>
      this.#t.call({ op: 'POST /banking/v1/issuers/{issuerId}/tokens/{tokenId}/resume', path: this.#path({ tokenId }), auth: this.#auth }),
    delete: (tokenId: string): Promise<IssuerToken> => this.#t.call({ op: 'DELETE /banking/v1/issuers/{issuerId}/tokens/{tokenId}', path: this.#path({ tokenId }), auth: this.#auth }),
    /** CNP credentials for one payment, encrypted to your registered `enc` key (see `decryptIssuerCredentials`). */
    transaction: (tokenId: string, opts: { idempotencyKey?: string } = {}): Promise<IssuerTransaction> =>
      this.#t.call({ op: 'POST /banking/v1/issuers/{issuerId}/tokens/{tokenId}/transactions', path: this.#path({ tokenId }), auth: this.#auth, ...opts }),
  };

  readonly clickToPay = {
    /** Enrols the card (the first time, also its consumer): a PENDING operation, or the card's finished one if already enrolled. */
    enrol: (cardId: string, input: EnrolmentInput = {}, opts: { idempotencyKey?: string } = {}): Promise<ClickToPayOperation> =>
      this.#t.call({ op: 'POST /banking/v1/issuers/{issuerId}/cards/{cardId}/operations:clickToPayEnrolment', path: this.#path({ cardId }), body: input ?? {}, auth: this.#auth, ...opts }),
    operations: async (cardId: string): Promise<ClickToPayOperation[]> =>
      (await this.#t.call<{ operations: ClickToPayOperation[] }>({ op: 'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/operations', path: this.#path({ cardId }), auth: this.#auth })).operations,
    operation: (cardId: string, operationId: string): Promise<ClickToPayOperation> =>
      this.#t.call({ op: 'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/operations/{operationId}', path: this.#path({ cardId, operationId }), auth: this.#auth }),
    /** Polls an operation until it is SUCCESSFUL or FAILED (or `timeoutMs` passes: then the last PENDING view). */
    wait: async (cardId: string, operationId: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<ClickToPayOperation> => {
      const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
      for (;;) {
        const op = await this.clickToPay.operation(cardId, operationId);
        if (DONE.has(op.status) || Date.now() >= deadline) return op;
        await sleep(opts.intervalMs ?? 250);
      }
    },
  };

  readonly batchFiles = {
    /**
     * Builds a batch file: encrypts every card, signs the RFC 8785 canonical `{header, records}` with
     * a detached ES256 JWS by your key. Returns the JSON text to send.
     */
    build: async (input: BatchFileInput): Promise<string> => {
      const header: IssuerBatchFile['header'] = {
        batchId: input.batchId,
        seqNumber: input.seqNumber,
        issuerId: this.issuerId,
        operation: 'CONSUMER_CARD_REGISTRATION',
        ...(input.clickToPayAutoEnrolment !== undefined ? { clickToPayAutoEnrolment: input.clickToPayAutoEnrolment } : {}),
      };
      const records: IssuerBatchFile['records'] = [];
      for (const r of input.records) {
        const cards = [];
        for (const c of r.cards) cards.push({ cardId: c.cardId, encryptedData: 'card' in c ? await this.encryptCard(c.card) : c.encryptedData });
        records.push({ rowId: r.rowId, consumerAndCardRegistrationRequest: { consumerId: r.consumerId, personalInformation: r.personalInformation, cards } });
      }
      const file: IssuerBatchFile = { header, records, signature: await signDetached(canonicalize({ header, records }), await this.#signing) };
      return JSON.stringify(file);
    },
    /** Sends a batch file (from `build`, or your own signed JSON text): `202` with its progress. */
    submit: async (file: BatchFileInput | string): Promise<IssuerBatchStatus> =>
      this.#t.call({
        op: 'POST /banking/v1/issuers/{issuerId}/batch-files',
        path: this.#path(),
        raw: typeof file === 'string' ? file : await this.batchFiles.build(file),
        auth: this.#auth,
        // Batch files are idempotent by batchId + seqNumber (a second one is 409 batch_duplicate).
        idempotencyKey: false,
      }),
    status: (batchId: string, seqNumber?: number): Promise<IssuerBatchStatus> =>
      this.#t.call({ op: 'GET /banking/v1/issuers/{issuerId}/batch-files/{batchId}', path: this.#path({ batchId }), query: { seqNumber }, auth: this.#auth }),
    /** The output (409 `batch_not_ready` until every record has its result). */
    output: (batchId: string, seqNumber?: number): Promise<IssuerBatchOutput> =>
      this.#t.call({ op: 'GET /banking/v1/issuers/{issuerId}/batch-files/{batchId}/output', path: this.#path({ batchId }), query: { seqNumber }, auth: this.#auth }),
  };
}

/** Decrypts an issuer transaction's `encryptedData` with your `enc` private key. */
export function decryptIssuerCredentials(encryptedData: string, privateKey: Key | JWK): Promise<TransactionCredentials> {
  return decryptJwe<TransactionCredentials>(encryptedData, privateKey);
}
