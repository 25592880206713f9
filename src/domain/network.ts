import type { Card } from './card.ts';
import type { DeclineCode } from './errors.ts';

/**
 * The acquirer a payment or a validation hold goes through. The sandbox implements it; a real
 * acquirer connector would implement the same. All operations are idempotent: `reference` names an
 * authorization once, and capturing or voiding twice has the effect of doing it once.
 */
export interface Acquirer {
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /**
   * A sale: authorizes and captures the whole amount in one call (one round trip, where an
   * authorization then a capture take two). Idempotent by `reference` as `authorize` is; the
   * record it leaves is `captured` (or `declined`), and `void` reverses it as it would a capture.
   */
  sale(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Captures `amount` (≤ the authorized amount) of an approved authorization. */
  capture(authorizationId: string, amount: number): Promise<void>;
  /** Cancels what is left of an authorization (and reverses a capture not yet settled). */
  void(authorizationId: string): Promise<void>;
  /** The authorization made under `reference`, if any: reconciles an operation a crash interrupted. */
  findByReference(merchantId: string, reference: string): Promise<AuthorizationRecord | undefined>;
  /** Refunds `amount` (minor units) of a captured authorization; `reference` names the refund once (a retry is a no-op). */
  refund(authorizationId: string, reference: string, amount: number): Promise<void>;
}

export interface AuthorizeRequest {
  merchantId: string;
  /** The caller's idempotency reference for this authorization. */
  reference: string;
  card: Card;
  cvc?: string | undefined;
  /** Minor units. */
  amount: number;
  currency: string;
}

export type AuthorizeResult =
  | { status: 'approved'; authorizationId: string }
  | { status: 'declined'; reason: DeclineCode; authorizationId: string };

export interface AuthorizationRecord {
  id: string;
  status: 'authorized' | 'captured' | 'voided' | 'declined';
  amount: number;
  capturedAmount: number;
  currency: string;
  declineReason: string | null;
}

// ---------------------------------------------------------------------------------------------
// Network tokenization. Glossary: a *TSP* (token service provider: Visa VTS, Mastercard MDES,
// Amex) issues a *network token* for a card after its *issuer* approves; the token has its own
// number (*token PAN*) and expiry, and a *PAR* that names the card account across all its tokens.
// A *token requestor* (here: the merchant, through Tessera) asks for tokens and, for each payment,
// a single-use *cryptogram*. The sandbox implements `TokenServiceProvider`; a real Visa, Mastercard
// or Amex connector would implement the same interface.
// ---------------------------------------------------------------------------------------------

/** Networks as the `/cof/v1` face names them. */
export type NetworkName = 'VISA' | 'MASTERCARD' | 'AMEX' | 'DISCOVER';

/** A network token's state. `DELETED` is final. */
export type NetworkTokenStatus = 'ACTIVE' | 'SUSPENDED' | 'DELETED';

export interface TokenProvisionRequest {
  /** The token requestor: the merchant the token is for. */
  merchantId: string;
  network: NetworkName;
  card: Card;
  cvv?: string | undefined;
  /** The merchant's account id for the cardholder: part of the token identity at Visa and Amex. */
  accountId?: string | undefined;
  /** The cardholder's email: part of the token identity at Amex (required there). */
  email?: string | undefined;
  /** The requestor's idempotency id: the same id again gets the token the first request got (crash reconciliation). */
  requestId?: string | undefined;
}

/** What a TSP answers about a token: never the token PAN (that only travels inside a cryptogram). */
export interface NetworkTokenInfo {
  /** The TSP's token reference; Tessera's `tokenId`. */
  tokenRef: string;
  network: NetworkName;
  status: NetworkTokenStatus;
  tokenLastDigits: string;
  /** `MMYY`. */
  tokenExpiryDate: string;
  /** `MMYY`: the card's, updated when the issuer re-issues the card. */
  cardExpiryDate: string;
  /** 29 upper-case alphanumerics, the same for every token of one card account. */
  par: string;
  cardArtIds: string[];
  issuer: { name: string; bin: string };
}

export type ProvisionResult =
  | { ok: true; token: NetworkTokenInfo; reused: boolean }
  | { ok: false; decline: DeclineCode };

export type LifecycleAction = 'suspend' | 'resume' | 'delete';

export type LifecycleResult =
  | { ok: true; token: NetworkTokenInfo; changed: boolean }
  /** `not_found`: no such token for this requestor; `invalid_state`: e.g. resuming a deleted token or one the issuer suspended. */
  | { ok: false; reason: 'not_found' | 'invalid_state'; message: string };

/** A payment with a network token as the network receives it: the token PAN and a cryptogram the TSP issued. */
export interface TokenAuthorizationRequest {
  merchantId: string;
  tokenPan: string;
  /** `MMYY`. */
  tokenExpiryDate: string;
  cryptogram: string;
  /** Minor units. */
  amount: number;
  currency: string;
}

/** The network's answer to a payment with a network token; `reason` is a decline code, or a token-level refusal (`invalid_cryptogram`, `token_inactive`, …). */
export interface TokenAuthorizationResult {
  status: 'approved' | 'declined';
  reason: string | null;
  authorizationId: string | null;
}

export interface CryptogramRequest {
  merchantId: string;
  tokenRef: string;
  transactionType: 'SINGLE';
}

/** Payment credentials for one transaction: handed to the merchant encrypted, never stored by Tessera. */
export interface PaymentCredentials {
  tokenPan: string;
  /** `MMYY`. */
  tokenExpiryDate: string;
  cryptogram: string;
  eci: string;
  /** Epoch ms after which the cryptogram is refused. */
  cryptogramExpiresAt: number;
}

export type CryptogramResult =
  | { ok: true; credentials: PaymentCredentials }
  | { ok: false; reason: 'not_found' | 'invalid_state'; message: string };

/** A change the issuer or network made to a token on its own side (card lost, card re-issued, …). */
export interface TokenLifecycleEvent {
  merchantId: string;
  token: NetworkTokenInfo;
  /** Why: e.g. `CARD_LOST`, `CARD_REISSUED`, `ISSUER_SUSPENDED`. */
  reason: string;
}

/**
 * The connector to a card network's token service. Transient faults throw `TspUnavailableError`
 * or `TspRateLimitedError`; expected outcomes (declines, bad state) are values.
 */
export interface TokenServiceProvider {
  requestToken(request: TokenProvisionRequest): Promise<ProvisionResult>;
  getTokenStatus(merchantId: string, tokenRef: string): Promise<NetworkTokenInfo | undefined>;
  changeState(merchantId: string, tokenRef: string, action: LifecycleAction): Promise<LifecycleResult>;
  createCryptogram(request: CryptogramRequest): Promise<CryptogramResult>;
  /**
   * Registers who hears of issuer-side changes. The TSP calls it at least once per change (it
   * retries until the listener resolves), so the listener must be idempotent.
   */
  onLifecycleEvent(listener: (event: TokenLifecycleEvent) => Promise<void>): void;
}

/** The TSP did not answer in time (or answered 5xx): the same request may succeed later. */
export class TspUnavailableError extends Error {
  override name = 'TspUnavailableError';
}

/** The TSP or the issuer behind it refused for load (429). */
export class TspRateLimitedError extends Error {
  override name = 'TspRateLimitedError';
  readonly retryAfterS: number;
  constructor(message: string, retryAfterS = 1) {
    super(message);
    this.retryAfterS = retryAfterS;
  }
}
