import { createHmac, createSecretKey, randomUUIDv7, type KeyObject } from 'node:crypto';
import type { Card } from '../domain/card.ts';
import type { DeclineCode } from '../domain/errors.ts';
import {
  TspRateLimitedError,
  TspUnavailableError,
  type CryptogramRequest,
  type CryptogramResult,
  type LifecycleAction,
  type LifecycleResult,
  type NetworkName,
  type NetworkTokenInfo,
  type NetworkTokenStatus,
  type ProvisionResult,
  type TokenAuthorizationRequest,
  type TokenAuthorizationResult,
  type TokenLifecycleEvent,
  type TokenProvisionRequest,
  type TokenServiceProvider,
} from '../domain/network.ts';
import type { Db } from '../storage/database.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import { findSandboxAuthorizationByReference, insertSandboxAuthorization } from '../storage/repos/sandbox-authorizations.ts';
import {
  findIssuingSandboxToken,
  findSandboxCryptogramWithToken,
  findSandboxToken,
  findSandboxTokenByRequestId,
  findSandboxTokenByRequestorKey,
  findSandboxTokenByTokenPan,
  insertSandboxCryptogram,
  insertSandboxToken,
  listSandboxTokensByPar,
  maxTokenPanKey,
  raiseCounter,
  sandboxRequestorKey,
  takeCounterBlock,
  updateSandboxToken,
  useSandboxCryptogram,
  type SandboxTspTokenRow,
} from '../storage/repos/sandbox-tsp.ts';
import { open, seal } from '../vault/cipher.ts';
import { randomPooled } from '../domain/random.ts';
import { scenarioOf, withCheckDigit, type Scenario } from './test-cards.ts';
import { delay, roundTrip } from './latency.ts';
import { createIssuerMeter, type IssuerMeter } from './issuer-meter.ts';
import { lookupKey, TokenNumbering } from './token-numbers.ts';
import { SharedSession } from '../storage/shared-session.ts';

/** The job that tells the token requestor of an issuer-side change (and applies scheduled ones). */
export const TASK_TSP_EVENT = 'sandbox.tsp.lifecycle_event';

/** Issuer-side events the sandbox can play on every token of a card (by PAR). */
export type IssuerEvent = 'CARD_LOST' | 'CARD_FOUND' | 'CARD_REISSUED';

export interface SandboxTspOptions {
  /** Seals card and token PANs (AES-256-GCM) and keys their fingerprints. */
  key: Buffer;
  /** Keys the PAR: global, so one card has one PAR whichever merchant asks. */
  parKey: Buffer;
  now: () => number;
  /** Wakes the worker after jobs were committed. */
  nudge: () => void;
  /** Simulated TSP latency per call, in ms. Default none. */
  latency?: (() => number) | undefined;
  /** Requests per second each issuer (BIN) accepts; 0 = no cap. Default 0. */
  issuerTps?: number;
  /** When a `suspended_later` card's tokens get suspended by the issuer. Default 60 s. */
  suspendLaterMs?: number;
  /** Cryptogram lifetime. Default 15 minutes. */
  cryptogramTtlMs?: number;
  /** Told of every call to an issuer (BIN) and whether its rate cap admitted it (metrics). Default none. */
  onIssuerCall?: (bin: string, admitted: boolean) => void;
}

/** Provisioning declines: the issuer refuses a token for these (insufficient funds only matters when paying). */
const PROVISION_DECLINES = new Set<DeclineCode>(['card_declined', 'lost_card', 'stolen_card', 'expired_card', 'incorrect_cvc', 'processing_error']);

interface TokenBin {
  prefix: string;
  length: number;
  eci: string;
}

const TOKEN_BINS: Record<NetworkName, TokenBin> = {
  VISA: { prefix: '489537', length: 16, eci: '07' },
  MASTERCARD: { prefix: '522093', length: 16, eci: '06' },
  AMEX: { prefix: '374930', length: 15, eci: '07' },
  DISCOVER: { prefix: '601199', length: 16, eci: '07' },
};

const TOKEN_LIFETIME_YEARS = 3;
/** Hex digits of a token identity's HMAC kept in its requestor key (migration 0013 cuts older keys to them). */
const IDENTITY_HEX = 32;
/** Token serials a process takes from the network's counter at a time (`takeCounterBlock`). */
const SERIAL_BLOCK = 1000;
const PAR_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/**
 * The card networks' token services, simulated and deterministic by card number (see
 * `test-cards.ts`): declines, step-up, TSP timeout and 429 by scenario code; any other Luhn-valid
 * number is approved and its issuer is its first six digits. Token identity follows each network:
 * Mastercard issues a new token per request; Visa reuses one per merchant + card + accountId; Amex
 * per merchant + card + accountId + email. State lives in `sandbox_tsp_tokens` and
 * `sandbox_cryptograms`, as a network would keep it.
 */
export class SandboxTsp implements TokenServiceProvider {
  readonly #db: Db;
  readonly #opts: SandboxTspOptions;
  readonly #listeners: ((event: TokenLifecycleEvent) => Promise<void>)[] = [];
  /** Per-issuer rate cap and traffic meter: in memory on SQLite, shared through the database on PostgreSQL. */
  readonly meter: IssuerMeter;
  /** KeyObjects made once: Node builds one per call from a raw Buffer key, which costs ~20 µs each. */
  readonly #key: KeyObject;
  readonly #parKey: KeyObject;
  readonly #arts = new Map<string, string>();
  /** The test-card outcome of each funding card seen, by its fingerprint (see `#scenario`). */
  readonly #scenarios = new Map<string, Scenario>();
  readonly #numbers: TokenNumbering;
  /** Each network's block of token serials being handed out. */
  readonly #serials = new Map<NetworkName, { next: number; end: number }>();
  /** A network's next block, while it is being taken: every request that needs it waits for this one. */
  readonly #takingSerials = new Map<NetworkName, Promise<void>>();
  /**
   * SQLite: the token INSERTs of one turn of the event loop (a batch's records ask together) share
   * one session of the connection instead of one each (see `SharedSession`).
   */
  readonly #tokenSession: SharedSession | undefined;

  constructor(db: Db, opts: SandboxTspOptions) {
    this.#db = db;
    this.#opts = opts;
    this.#key = createSecretKey(opts.key);
    this.#parKey = createSecretKey(opts.parKey);
    this.#numbers = new TokenNumbering(this.#key);
    this.meter = createIssuerMeter(db, opts.issuerTps ?? 0);
    this.#tokenSession = db.engine === 'sqlite' ? new SharedSession(db.relaxed) : undefined;
  }

  onLifecycleEvent(listener: (event: TokenLifecycleEvent) => Promise<void>): void {
    this.#listeners.push(listener);
  }

  async requestToken(req: TokenProvisionRequest): Promise<ProvisionResult> {
    await delay(this.#opts.latency);
    const { card } = req;
    const bin = card.pan.slice(0, 6);
    const admitted = await this.meter.admit(bin);
    this.#opts.onIssuerCall?.(bin, admitted);
    if (!admitted) throw new TspRateLimitedError(`issuer ${bin} is over its rate cap`, 1);
    const scenario = scenarioOf(card.pan);
    if (scenario.kind === 'tsp_timeout') throw new TspUnavailableError('the token service did not answer in time');
    if (scenario.kind === 'tsp_rate_limit') throw new TspRateLimitedError('the token service is rate limiting this requestor', 1);
    if (scenario.kind === 'step_up') return { ok: false, decline: 'authentication_required' };
    if (scenario.kind === 'decline' && PROVISION_DECLINES.has(scenario.reason)) return { ok: false, decline: scenario.reason };

    const k = this.#db.relaxed; // simulator state: see Db.relaxed
    const identity = this.#identity(req);
    const par = this.parOf(card.pan);
    const requestorKey = identity ? sandboxRequestorKey(par, identity) : undefined;
    const now = this.#opts.now();
    // A new token is tried first (one statement: most requests are new); a unique key it hits says why not.
    for (let tries = 0; tries < 5; tries++) {
      const row = await this.#newToken(k, req, par, identity, now);
      if (await insertSandboxToken(this.#db.engine, k, row, this.#tokenSession)) {
        if (scenario.kind === 'suspended_later') {
          await enqueueJob(
            k,
            { task: TASK_TSP_EVENT, payload: { tokenRef: row.id, apply: 'issuer_suspend', reason: 'ISSUER_SUSPENDED' }, runAt: now + (this.#opts.suspendLaterMs ?? 60_000) },
            now,
          );
          this.#opts.nudge();
        }
        return { ok: true, token: this.#info(row), reused: false };
      }
      // The same request id again (the requestor retrying after a crash): the token it already got.
      const sameRequest = req.requestId ? await findSandboxTokenByRequestId(this.#db.engine, k, req.requestId) : undefined;
      if (sameRequest) return { ok: true, token: this.#info(sameRequest), reused: true };
      if (requestorKey) {
        // The card already has its token at this requestor (Visa, Amex), or a concurrent identical request won it.
        const holder = await findSandboxTokenByRequestorKey(this.#db.engine, k, requestorKey);
        if (holder && holder.status !== 'DELETED') return { ok: true, token: this.#info(holder), reused: true };
        // A deleted token is never handed out again: free its identity for a new one (the number was not the conflict).
        if (holder) {
          await updateSandboxToken(k, holder.id, { requestor_key: sandboxRequestorKey(holder.par, holder.id) });
          continue;
        }
      }
      // Otherwise the token number was taken (never expected: serials do not repeat, unless the
      // counter went back, e.g. a restored backup): the counter moves past the serials in use.
      await this.#skipUsedSerials(k, req.network);
    }
    throw new TspUnavailableError('the token service could not allocate a token number');
  }

  async getTokenStatus(merchantId: string, tokenRef: string): Promise<NetworkTokenInfo | undefined> {
    const row = await findSandboxToken(this.#db.kysely, tokenRef);
    return row && row.merchant_id === merchantId ? this.#info(row) : undefined;
  }

  async changeState(merchantId: string, tokenRef: string, action: LifecycleAction): Promise<LifecycleResult> {
    await delay(this.#opts.latency);
    const k = this.#db.kysely;
    const row = await findSandboxToken(k, tokenRef);
    if (!row || row.merchant_id !== merchantId) return { ok: false, reason: 'not_found', message: 'No such token.' };
    const status = row.status as NetworkTokenStatus;
    const unchanged = (): LifecycleResult => ({ ok: true, token: this.#info(row), changed: false });
    if (status === 'DELETED') {
      return action === 'delete' ? unchanged() : { ok: false, reason: 'invalid_state', message: 'The token is deleted.' };
    }
    const now = this.#opts.now();
    let patch: Partial<SandboxTspTokenRow>;
    if (action === 'suspend') {
      if (status === 'SUSPENDED') return unchanged();
      patch = { status: 'SUSPENDED', suspended_by: 'merchant' };
    } else if (action === 'resume') {
      if (status === 'ACTIVE') return unchanged();
      if (row.suspended_by === 'issuer') {
        return { ok: false, reason: 'invalid_state', message: 'The issuer suspended this token: only the issuer can resume it.' };
      }
      patch = { status: 'ACTIVE', suspended_by: null };
    } else {
      // Deleted tokens keep their lookup keys (a later payment is declined, not unknown) but no card.
      patch = { status: 'DELETED', suspended_by: null, card_ct: '', token_pan_ct: '', requestor_key: sandboxRequestorKey(row.par, row.id) };
    }
    await updateSandboxToken(k, row.id, { ...patch, updated_at: now });
    return { ok: true, token: this.#info({ ...row, ...patch }), changed: true };
  }

  async createCryptogram(req: CryptogramRequest): Promise<CryptogramResult> {
    await delay(this.#opts.latency);
    const k = this.#db.kysely;
    const row = await findIssuingSandboxToken(this.#db.engine, k, req.tokenRef);
    if (!row || row.merchant_id !== req.merchantId) return { ok: false, reason: 'not_found', message: 'No such token.' };
    if (row.status !== 'ACTIVE') return { ok: false, reason: 'invalid_state', message: `The token is ${row.status.toLowerCase()}.` };
    const now = this.#opts.now();
    const cryptogram = randomPooled(20).toString('base64');
    const expiresAt = now + (this.#opts.cryptogramTtlMs ?? 15 * 60_000);
    await insertSandboxCryptogram(this.#db.engine, k, {
      id: randomUUIDv7(), // time-ordered, as authorization ids are
      token_id: row.id,
      merchant_id: row.merchant_id,
      cryptogram_hash: this.#mac(`cryptogram|${cryptogram}`),
      expires_at: expiresAt,
      created_at: now,
    });
    // A token numbered from a serial has its number in its lookup key; an older one has it sealed.
    const tokenPan = row.token_pan_ct ? this.#open(row.token_pan_ct, `sandbox-token-pan:${row.id}`) : this.#tokenPanOf(row.token_pan_fingerprint);
    const network = row.network as NetworkName;
    return {
      ok: true,
      credentials: { tokenPan, tokenExpiryDate: row.token_expiry, cryptogram, eci: TOKEN_BINS[network].eci, cryptogramExpiresAt: expiresAt },
    };
  }

  /**
   * The network's side of a payment with a token: the cryptogram must be one this TSP issued for
   * this token and merchant, unused and unexpired; then the issuer decides on the funding card.
   * The authorization is recorded under `cof:<cryptogram id>` and left to be captured.
   */
  async authorize(req: TokenAuthorizationRequest): Promise<TokenAuthorizationResult> {
    await delay(this.#opts.latency);
    return this.#authorize(req, undefined);
  }

  /**
   * A sale with a token: `authorize`, captured at once and recorded under the caller's `reference`
   * (one per reference: a retry gets what the first call got), as `Acquirer.sale` is for a PAN. A
   * token-level refusal (unknown token, bad cryptogram) records nothing, so the reference stays
   * free for a payment with the PAN. The latency is split around the recording, as a round trip is:
   * an answer lost on its way back leaves a record under `reference` that the order reconciler finds.
   */
  async sale(req: TokenAuthorizationRequest & { reference: string }): Promise<TokenAuthorizationResult> {
    return roundTrip(this.#opts.latency, () => this.#authorize(req, req.reference));
  }

  /** `reference` undefined: an authorization under `cof:<cryptogram id>`; else a sale under `reference`. */
  async #authorize(req: TokenAuthorizationRequest, reference: string | undefined): Promise<TokenAuthorizationResult> {
    const k = this.#db.kysely;
    const declined = (reason: string): TokenAuthorizationResult => ({ status: 'declined', reason, authorizationId: null });
    // The cryptogram with its token in one read; when they do not match this token PAN and
    // merchant (rare), the token PAN's own token says which refusal it is.
    const found = await findSandboxCryptogramWithToken(this.#db.engine, k, this.#mac(`cryptogram|${req.cryptogram}`));
    if (!found || !this.#isTokenPan(found.token.token_pan_fingerprint, req.tokenPan) || found.token.merchant_id !== req.merchantId) {
      const serialKey = this.#serialKey(req.tokenPan);
      const token = (serialKey && (await findSandboxTokenByTokenPan(k, serialKey))) || (await findSandboxTokenByTokenPan(k, this.#mac(`token-pan|${req.tokenPan}`)));
      return declined(!token || token.merchant_id !== req.merchantId ? 'invalid_token' : 'invalid_cryptogram');
    }
    const { cryptogram: crypto, token } = found;
    const now = this.#opts.now();
    if (crypto.used_at !== null) return declined('cryptogram_replayed');
    if (crypto.expires_at <= now) return declined('cryptogram_expired');
    // Checked once the cryptogram is used up (below); a deleted token has no card left to read.
    const refusal = token.status !== 'ACTIVE' ? 'token_inactive' : token.token_expiry !== req.tokenExpiryDate ? 'invalid_expiry' : null;
    const scenario = refusal ? undefined : this.#scenario(token);
    const reason = scenario?.kind === 'decline' ? scenario.reason : null;
    const capture = reference !== undefined;
    const row = {
      // Time-ordered (UUIDv7): a new key lands at the end of the id index, not on a random page of it.
      id: `auth_${randomUUIDv7().replaceAll('-', '')}`,
      merchant_id: req.merchantId,
      reference: reference ?? `cof:${crypto.id}`,
      card_fingerprint: token.pan_fingerprint,
      amount: req.amount,
      currency: req.currency,
      captured_amount: capture && !reason ? req.amount : 0,
      status: reason ? 'declined' : capture ? 'captured' : 'authorized',
      decline_reason: reason,
      created_at: now,
      updated_at: now,
    };
    // Using the cryptogram up and recording the authorization need not be atomic (a crash between
    // them leaves a used cryptogram and no payment, which is what the order reconciler then finds),
    // but they run on one connection: on SQLite that is one session of the group commit (one wait
    // for a COMMIT, where two statements alone are two); on PostgreSQL, the same two round trips.
    return k.connection().execute(async (trx): Promise<TokenAuthorizationResult> => {
      if (!(await useSandboxCryptogram(this.#db.engine, trx, crypto.id, now))) return declined('cryptogram_replayed');
      if (refusal) return declined(refusal);
      if (await insertSandboxAuthorization(this.#db.engine, trx, row)) return { status: reason ? 'declined' : 'approved', reason, authorizationId: row.id };
      // The reference was taken (a retried sale): what the first call got.
      const first = await findSandboxAuthorizationByReference(trx, req.merchantId, row.reference);
      if (!first) throw new Error('the authorization of this reference vanished');
      return { status: first.status === 'declined' ? 'declined' : 'approved', reason: first.decline_reason, authorizationId: first.id };
    });
  }

  /**
   * Plays an issuer event on every live token of the card named by `par`: lost suspends them,
   * found resumes the ones the issuer suspended, re-issued sets a new card expiry. Each affected
   * token's requestor is told through a job (retried until it hears). Returns the tokens touched.
   */
  async issuerEvent(par: string, event: IssuerEvent, newCardExpiry?: string): Promise<number> {
    const now = this.#opts.now();
    let touched = 0;
    await this.#db.kysely.transaction().execute(async (trx) => {
      for (const row of await listSandboxTokensByPar(this.#db.engine, trx, par)) {
        let patch: Partial<SandboxTspTokenRow> | undefined;
        if (event === 'CARD_LOST' && row.status === 'ACTIVE') patch = { status: 'SUSPENDED', suspended_by: 'issuer' };
        if (event === 'CARD_FOUND' && row.status === 'SUSPENDED' && row.suspended_by === 'issuer') patch = { status: 'ACTIVE', suspended_by: null };
        if (event === 'CARD_REISSUED' && row.status !== 'DELETED') patch = { card_expiry: newCardExpiry ?? mmyy(now, TOKEN_LIFETIME_YEARS) };
        if (!patch) continue;
        await updateSandboxToken(trx, row.id, { ...patch, updated_at: now });
        await enqueueJob(trx, { task: TASK_TSP_EVENT, payload: { tokenRef: row.id, reason: event } }, now);
        touched++;
      }
    });
    if (touched > 0) this.#opts.nudge();
    return touched;
  }

  /** The job half of lifecycle events: applies a scheduled change, then tells every listener. */
  async handleEvent(payload: unknown): Promise<void> {
    const { tokenRef, reason, apply } = payload as { tokenRef: string; reason: string; apply?: 'issuer_suspend' };
    const k = this.#db.kysely;
    let row = await findSandboxToken(k, tokenRef);
    if (!row) return;
    if (apply === 'issuer_suspend' && row.status === 'ACTIVE') {
      const patch = { status: 'SUSPENDED', suspended_by: 'issuer', updated_at: this.#opts.now() };
      await updateSandboxToken(k, row.id, patch);
      row = { ...row, ...patch };
    }
    for (const listener of this.#listeners) await listener({ merchantId: row.merchant_id, token: this.#info(row), reason });
  }

  /** The PAR of a card (what the sandbox dashboard and tests use to name a card without its number). */
  parOf(pan: string): string {
    const digest = createHmac('sha256', this.#parKey).update(pan).digest();
    let par = '';
    for (let i = 0; i < 29; i++) par += PAR_ALPHABET[digest[i]! % 36];
    return par;
  }

  async #newToken(k: Db['relaxed'], req: TokenProvisionRequest, par: string, identity: string | null, now: number): Promise<SandboxTspTokenRow> {
    const { card, network } = req;
    const spec = TOKEN_BINS[network];
    let serial: number;
    let tokenPan: string;
    do {
      serial = await this.#nextSerial(k, network, serialDigits(spec));
      tokenPan = this.#tokenNumber(spec, serial);
    } while (tokenPan === card.pan);
    const id = randomUUIDv7();
    return {
      id,
      merchant_id: req.merchantId,
      network,
      // A token without an identity (Mastercard, Discover) is keyed by its id: still findable by PAR.
      requestor_key: sandboxRequestorKey(par, identity ?? id),
      pan_fingerprint: this.#mac(`pan|${card.pan}`),
      card_ct: this.#seal(JSON.stringify([card.pan, card.expMonth, card.expYear]), `sandbox-card:${id}`),
      // The number is the serial's (`#tokenPanOf`): nothing to seal.
      token_pan_ct: '',
      token_pan_fingerprint: lookupKey(spec.prefix, serial, serialDigits(spec)),
      token_last4: tokenPan.slice(-4),
      token_expiry: mmyy(now, TOKEN_LIFETIME_YEARS),
      card_expiry: card.expMonth + card.expYear.slice(-2),
      par,
      bin: card.pan.slice(0, 6),
      status: 'ACTIVE',
      suspended_by: null,
      created_at: now,
      updated_at: now,
      ...(req.requestId ? { request_id: req.requestId } : {}),
    };
  }

  /**
   * What the issuer does with the token's funding card. The outcome is a function of the card
   * number, and so of its fingerprint: remembered per fingerprint (no card data), which spares
   * decrypting the card on every payment.
   */
  #scenario(row: Pick<SandboxTspTokenRow, 'id' | 'card_ct' | 'pan_fingerprint'>): Scenario {
    return remembered(this.#scenarios, row.pan_fingerprint, () => scenarioOf(this.#card(row).pan));
  }

  #card(row: Pick<SandboxTspTokenRow, 'id' | 'card_ct'>): Card {
    const [pan, expMonth, expYear] = JSON.parse(this.#open(row.card_ct, `sandbox-card:${row.id}`)) as string[];
    return { pan: pan ?? '', expMonth: expMonth ?? '', expYear: expYear ?? '', name: '' };
  }

  /**
   * Visa: merchant + card + accountId; Amex: also email; Mastercard and Discover: none (a new token
   * each time). 128 bits of the HMAC (32 hex digits): a short key keeps its index small.
   */
  #identity(req: TokenProvisionRequest): string | null {
    if (req.network !== 'VISA' && req.network !== 'AMEX') return null;
    const parts = [req.network, req.merchantId, req.card.pan, req.card.expMonth, req.card.expYear, req.accountId ?? ''];
    if (req.network === 'AMEX') parts.push((req.email ?? '').toLowerCase());
    return this.#mac(`requestor|${JSON.stringify(parts)}`).slice(0, IDENTITY_HEX);
  }

  #info(row: SandboxTspTokenRow): NetworkTokenInfo {
    return {
      tokenRef: row.id,
      network: row.network as NetworkName,
      status: row.status as NetworkTokenStatus,
      tokenLastDigits: row.token_last4,
      tokenExpiryDate: row.token_expiry,
      cardExpiryDate: row.card_expiry,
      par: row.par,
      cardArtIds: [this.#cardArt(row.network, row.bin)],
      issuer: { name: `Sandbox Issuer ${row.bin}`, bin: row.bin },
    };
  }

  /** A card art id per network and issuer BIN: a MAC, made once per BIN (it is part of every token answer). */
  #cardArt(network: string, bin: string): string {
    return remembered(this.#arts, `${network}|${bin}`, () => `art-${network.toLowerCase()}-${this.#mac(`art|${bin}`).slice(0, 12)}`);
  }

  /**
   * The next serial of `network`'s token numbers, from this process's block of them. The requests
   * that find the block used up wait for one new block together (each taking its own would throw
   * away all but the last of them: a gap of a block per concurrent request, and a statement each).
   */
  async #nextSerial(k: Db['relaxed'], network: NetworkName, digits: number): Promise<number> {
    for (;;) {
      const block = this.#serials.get(network);
      if (block && block.next < block.end) {
        const serial = block.next++;
        if (serial >= 10 ** digits) throw new TspUnavailableError('the token service has no token numbers left');
        return serial;
      }
      let taking = this.#takingSerials.get(network);
      if (!taking) {
        taking = takeCounterBlock(k, `token_serial:${network}`, SERIAL_BLOCK)
          .then((first) => void this.#serials.set(network, { next: first, end: first + SERIAL_BLOCK }))
          .finally(() => this.#takingSerials.delete(network));
        this.#takingSerials.set(network, taking);
      }
      await taking;
    }
  }

  /** Moves `network`'s counter past its highest serial in the store, and drops this process's block. */
  async #skipUsedSerials(k: Db['relaxed'], network: NetworkName): Promise<void> {
    this.#serials.delete(network);
    const spec = TOKEN_BINS[network];
    const digits = serialDigits(spec);
    const highest = await maxTokenPanKey(k, lookupKey(spec.prefix, 0, digits), lookupKey(spec.prefix, 10 ** digits - 1, digits));
    const serial = highest?.slice(1 + spec.prefix.length);
    if (serial && /^\d+$/.test(serial)) await raiseCounter(k, `token_serial:${network}`, Number(serial) + 1);
  }

  /** The token number of serial `serial` under a token BIN: the BIN, the serial's permuted digits, a check digit. */
  #tokenNumber(spec: TokenBin, serial: number): string {
    return withCheckDigit(spec.prefix + this.#numbers.encode(serial, serialDigits(spec)));
  }

  /** The lookup key of a token number this TSP numbered from a serial, if it can be one (token BIN, length, check digit). */
  #serialKey(tokenPan: string): string | undefined {
    if (!/^\d+$/.test(tokenPan) || withCheckDigit(tokenPan.slice(0, -1)) !== tokenPan) return undefined;
    const spec = Object.values(TOKEN_BINS).find((b) => tokenPan.length === b.length && tokenPan.startsWith(b.prefix));
    return spec && lookupKey(spec.prefix, this.#numbers.decode(tokenPan.slice(spec.prefix.length, -1)), serialDigits(spec));
  }

  /** The token number of a lookup key `#<token BIN><serial>`. */
  #tokenPanOf(key: string): string {
    const spec = Object.values(TOKEN_BINS).find((b) => key.startsWith(`#${b.prefix}`));
    if (!spec) throw new Error('not a serial lookup key');
    return this.#tokenNumber(spec, Number(key.slice(1 + spec.prefix.length)));
  }

  /** Whether `tokenPan` is the number of the token whose lookup key is `key` (a serial's, or an older token's HMAC). */
  #isTokenPan(key: string, tokenPan: string): boolean {
    return key.startsWith('#') ? key === this.#serialKey(tokenPan) : key === this.#mac(`token-pan|${tokenPan}`);
  }

  #mac(value: string): string {
    return createHmac('sha256', this.#key).update(value).digest('hex');
  }

  /** AES-256-GCM (`vault/cipher.ts`: iv ‖ ciphertext ‖ tag, AAD bound to the row), base64url. */
  #seal(plaintext: string, aad: string): string {
    return seal(this.#key, Buffer.from(plaintext, 'utf8'), aad).toString('base64url');
  }

  #open(sealed: string, aad: string): string {
    return open(this.#key, Buffer.from(sealed, 'base64url'), aad).toString('utf8');
  }

}

/** `map`'s value for `key`, made once by `make`; the map is emptied past 10,000 entries (a bounded memo). */
function remembered<V>(map: Map<string, V>, key: string, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    if (map.size >= 10_000) map.clear();
    map.set(key, value);
  }
  return value;
}

/** Digits of a token number between its token BIN and its check digit: a serial's (`TokenNumbering`). */
function serialDigits(spec: TokenBin): number {
  return spec.length - spec.prefix.length - 1;
}

/** `MMYY` of the month `years` after `now`. */
function mmyy(now: number, years: number): string {
  const d = new Date(now);
  return String(d.getUTCMonth() + 1).padStart(2, '0') + String((d.getUTCFullYear() + years) % 100).padStart(2, '0');
}
