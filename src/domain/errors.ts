/**
 * The one error registry of Tessera.
 *
 * Every error a client can see has a stable code from this closed set, one HTTP status, and
 * whether a retry can succeed. Each face renders the same `TesseraError` in its own envelope
 * (see `src/http/errors.ts`). Messages are written here or by the thrower and must never contain
 * card data, keys or secrets: they are shown to clients and logged.
 */
export const ERROR_STATUS = {
  // 400: the request is wrong and will stay wrong.
  invalid_json: 400,
  invalid_request: 400,
  invalid_field: 400,
  missing_field: 400,
  unknown_field: 400,
  invalid_number: 400,
  invalid_expiry_month: 400,
  invalid_expiry_year: 400,
  card_expired: 400,
  invalid_cvc: 400,
  invalid_name: 400,
  invalid_installments: 400,
  // 400 on the network tokenization face (`/cof/v1`).
  invalid_correlation_id: 400,
  invalid_encrypted_data: 400,
  unsupported_algorithm: 400,
  unknown_key: 400,
  decryption_failed: 400,
  missing_email: 400,
  network_not_supported: 400,
  invalid_jwks: 400,
  // 400 / 404 / 409 of bulk tokenization (`/cof/v1/batches`).
  /** A chunk holds more than 10,000 records. */
  too_many_records: 400,
  /** A `rowId` appears twice in the chunk, or was already sent in an earlier chunk of the batch. */
  duplicate_row_id: 400,
  invalid_cursor: 400,
  batch_not_found: 404,
  /** A chunk for a batch whose `last` chunk was already received. */
  batch_closed: 409,
  // 401: who is calling is unknown.
  unauthorized: 401,
  // 402: the card network said no.
  card_declined: 402,
  insufficient_funds: 402,
  lost_card: 402,
  stolen_card: 402,
  expired_card: 402,
  incorrect_cvc: 402,
  processing_error: 402,
  authentication_required: 402,
  // 404 / 410: not there (or not yours: tenants never learn of each other's ids).
  not_found: 404,
  route_not_found: 404,
  token_not_found: 404,
  customer_not_found: 404,
  card_not_found: 404,
  request_not_found: 404,
  /** A `merchantId` (path or body) that is not the caller's: as if no such merchant existed. */
  merchant_not_found: 404,
  token_expired: 410,
  // 403: the operator dashboard's CSRF check (synchronizer token and Origin) failed.
  csrf_failed: 403,
  // 405 / 409 / 413 / 415 / 429
  method_not_allowed: 405,
  conflict: 409,
  /** The network token is suspended or deleted: no cryptogram, no resume by the merchant. */
  token_inactive: 409,
  /** The merchant registered no encryption key (JWKS) to receive transaction credentials. */
  encryption_key_required: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  // 5xx: our fault or a dependency's; retryable.
  internal_error: 500,
  service_unavailable: 503,
  /** The card network's token service did not answer in time. */
  tsp_unavailable: 503,
  // The issuer face (`/authz/v1`, `/banking/v1`). OAuth 2.0 token endpoint codes (RFC 6749 §5.2, RFC 7523).
  /** The assertion is not valid: signature, expiry, lifetime over 15 minutes, audience or a replayed `jti`. */
  invalid_grant: 400,
  unsupported_grant_type: 400,
  /** The assertion names an unknown issuer or a key the issuer did not register. */
  invalid_client: 401,
  consumer_not_found: 404,
  operation_not_found: 404,
  /** A batch file's output is served only once every record has its result. */
  batch_not_ready: 409,
  /** The issuer already sent a batch file with this `batchId` and `seqNumber`. */
  batch_duplicate: 409,
  /** A batch file's detached JWS does not verify: the whole file is refused. */
  invalid_signature: 400,
  // Orders, refunds, webhooks and idempotency (`/api/orders`, `/api/webhooks`, `Idempotency-Key`).
  invalid_currency: 400,
  /** An amount that is negative, has more than two decimals, or is over what is allowed (e.g. a refund over the captured amount). */
  invalid_amount: 400,
  invalid_idempotency_key: 400,
  order_not_found: 404,
  webhook_not_found: 404,
  delivery_not_found: 404,
  /** A temporary token pays once: a second use is refused. */
  token_already_used: 409,
  /** A refund of an order that is not paid, or already fully refunded. */
  order_not_refundable: 409,
  /** The same `Idempotency-Key` was sent with another request (method, path or body). */
  idempotency_key_reused: 409,
  /** A request with this `Idempotency-Key` is still being processed: retry shortly. */
  idempotency_key_in_use: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Codes that mean the card network declined: rendered with `decline_code` as well. */
export const DECLINE_CODES = [
  'card_declined',
  'insufficient_funds',
  'lost_card',
  'stolen_card',
  'expired_card',
  'incorrect_cvc',
  'processing_error',
  'authentication_required',
] as const satisfies readonly ErrorCode[];

export type DeclineCode = (typeof DECLINE_CODES)[number];

export function isDeclineCode(code: string): code is DeclineCode {
  return (DECLINE_CODES as readonly string[]).includes(code);
}

export function isRetryable(status: number): boolean {
  return status === 429 || status >= 500;
}

/** A fault a client can act on. `param` names the request field at fault, when there is one. */
export class TesseraError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly param: string | undefined;
  /** For 429/503: seconds after which a retry may succeed (the `retry-after` header). Default 1. */
  readonly retryAfterS: number | undefined;

  constructor(code: ErrorCode, message: string, param?: string, retryAfterS?: number) {
    super(message);
    this.name = 'TesseraError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.param = param;
    this.retryAfterS = retryAfterS;
  }
}

export function invalid(code: ErrorCode, param: string, message: string): TesseraError {
  return new TesseraError(code, message, param);
}
