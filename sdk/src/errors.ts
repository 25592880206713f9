/**
 * Errors the SDK throws. Every failed call is a `TesseraError`: a `TesseraApiError` when Tessera
 * answered (with the face's error code, the HTTP status and the field at fault), a
 * `TesseraNetworkError` when no answer came. Messages are Tessera's own, which never hold card data;
 * the SDK never puts a request body into an error.
 */

/** Which face answered: they render errors in different envelopes. */
export type Face = 'merchant' | 'cof' | 'sandbox' | 'banking' | 'oauth';

export class TesseraError extends Error {
  /** Whether the same call may succeed if sent again (with the same idempotency key). */
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TesseraError';
    this.retryable = retryable;
  }
}

/** Codes that mean "try again later" whatever their status. */
const RETRYABLE_CODES = new Set(['idempotency_key_in_use', 'temporarily_unavailable']);

export interface ApiErrorFields {
  face: Face;
  status: number;
  code: string;
  message: string;
  param: string | null;
  requestId: string | null;
  declineCode?: string | undefined;
  /** Seconds from `retry-after`, when the answer had one. */
  retryAfterS?: number | undefined;
  /** The parsed error body (e.g. a declined order's `order`). */
  body?: unknown;
}

/** Tessera answered with an error status. */
export class TesseraApiError extends TesseraError {
  /** The face that answered (`merchant`: `{code, param, request_id}`; `cof`/`sandbox`: `{errorCode}`; `banking`: `{errorCode, field, requestId}`; `oauth`: `{error}`). */
  readonly face: Face;
  readonly status: number;
  /** The stable error code, e.g. `invalid_number`, `token_not_found`, `rate_limited`, `invalid_grant`. */
  readonly code: string;
  /** The request field at fault (`param` / `field`), or null (the cof and OAuth envelopes carry none). */
  readonly param: string | null;
  /** The request id (`request_id` / `requestId` / the `x-request-id` header): quote it to support. */
  readonly requestId: string | null;
  /** For card declines (402): why the network declined. */
  readonly declineCode: string | undefined;
  readonly retryAfterS: number | undefined;
  readonly body: unknown;

  constructor(f: ApiErrorFields) {
    super(f.message, f.status === 429 || f.status >= 500 || RETRYABLE_CODES.has(f.code));
    this.name = 'TesseraApiError';
    this.face = f.face;
    this.status = f.status;
    this.code = f.code;
    this.param = f.param;
    this.requestId = f.requestId;
    this.declineCode = f.declineCode;
    this.retryAfterS = f.retryAfterS;
    this.body = f.body;
  }
}

/** No answer: the connection failed, was cut, or timed out. Always retryable. */
export class TesseraNetworkError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
    this.name = 'TesseraNetworkError';
  }
}

/** A webhook or notification whose signature or timestamp does not check out. */
export class TesseraSignatureError extends TesseraError {
  constructor(message: string) {
    super(message, false);
    this.name = 'TesseraSignatureError';
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Reads the face's envelope into a `TesseraApiError`. Unknown bodies (a proxy's HTML page) get code `http_<status>`. */
export function apiErrorFrom(face: Face, status: number, body: unknown, headers: Headers): TesseraApiError {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const headerId = headers.get('x-request-id');
  const ra = retryAfterSeconds(headers.get('retry-after'));
  const fallback = { code: `http_${status}`, message: `Tessera answered HTTP ${status}.` };
  let code: string | undefined;
  let message: string | undefined;
  let param: string | null = null;
  let requestId: string | null = headerId;
  switch (face) {
    case 'merchant':
      code = str(b.code);
      message = str(b.message);
      param = str(b.param) ?? null;
      requestId = str(b.request_id) ?? headerId;
      break;
    case 'banking':
      code = str(b.errorCode);
      message = str(b.errorDescription);
      param = str(b.field) ?? null;
      requestId = str(b.requestId) ?? headerId;
      break;
    case 'oauth':
      code = str(b.error);
      message = str(b.error_description);
      break;
    default:
      code = str(b.errorCode);
      message = str(b.message);
  }
  return new TesseraApiError({
    face,
    status,
    code: code ?? fallback.code,
    message: message ?? fallback.message,
    param,
    requestId,
    declineCode: str(b.decline_code) ?? (status === 402 ? code : undefined),
    retryAfterS: ra,
    body,
  });
}

/** `retry-after` as seconds: a number of seconds or an HTTP date. */
export function retryAfterSeconds(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const n = Number(value);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}
