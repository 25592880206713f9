import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { isDeclineCode, TesseraError, type ErrorCode } from '../domain/errors.ts';
import { issuerEnvelope } from './issuer-errors.ts';
import { isDatabaseUnavailable, isUnstorableText } from '../storage/database.ts';

/** Request fields whose bad values have a field-specific code rather than `invalid_field`. */
const FIELD_CODES: Record<string, ErrorCode> = {
  number: 'invalid_number',
  exp_month: 'invalid_expiry_month',
  exp_year: 'invalid_expiry_year',
  cvc: 'invalid_cvc',
  name: 'invalid_name',
  installments: 'invalid_installments',
};

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
}

function paramOf(path: string): string | undefined {
  const p = path.replace(/^\//, '').replaceAll('/', '.');
  return p === '' ? undefined : p;
}

/** Turns a schema validation failure into the registry's code for the first field at fault. */
function fromValidation(errors: AjvError[], context: string | undefined): TesseraError {
  const first = errors[0];
  if (!first) return new TesseraError('invalid_request', 'The request is not valid.');
  if (first.keyword === 'required') {
    const missing = String(first.params.missingProperty ?? '');
    const param = [paramOf(first.instancePath), missing].filter(Boolean).join('.');
    return new TesseraError('missing_field', `${param} is required.`, param);
  }
  if (first.keyword === 'additionalProperties') {
    const extra = String(first.params.additionalProperty ?? '');
    const param = [paramOf(first.instancePath), extra].filter(Boolean).join('.');
    return new TesseraError('unknown_field', `${param} is not a field of this request.`, param);
  }
  const param = paramOf(first.instancePath);
  if (!param) {
    const what = context === 'body' ? 'The request body must be a JSON object.' : `The request ${context ?? ''} is not valid.`;
    return new TesseraError('invalid_request', what.replace(/\s+\./, '.'));
  }
  const leaf = param.split('.').pop() ?? param;
  const code = FIELD_CODES[leaf] ?? 'invalid_field';
  return new TesseraError(code, `${param} ${describeKeyword(first)}.`, param);
}

function describeKeyword(e: AjvError): string {
  switch (e.keyword) {
    case 'type':
      return `must be of type ${String(e.params.type)}`;
    case 'maxLength':
      return `must have at most ${String(e.params.limit)} characters`;
    case 'minLength':
      return `must have at least ${String(e.params.limit)} characters`;
    case 'pattern':
    case 'format':
      return 'is not in the expected format';
    case 'enum':
    case 'const':
    case 'anyOf':
      return 'is not one of the allowed values';
    case 'minimum':
    case 'maximum':
      return 'is out of range';
    default:
      return 'is not valid';
  }
}

/** Maps anything thrown while handling a request to a registry error. Unknown faults become 500. */
export function toTesseraError(err: unknown): TesseraError {
  if (err instanceof TesseraError) return err;
  const fe = err as Partial<FastifyError> & { validation?: AjvError[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) return fromValidation(fe.validation, fe.validationContext);
  switch (fe?.code) {
    // Framework messages are never passed on: a JSON parser's message can quote the body.
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new TesseraError('invalid_json', 'The request body is not valid JSON.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TesseraError('payload_too_large', 'The request body is too large.');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new TesseraError('unsupported_media_type', 'Send the body as application/json.');
    case 'FST_ERR_BAD_URL':
    case 'FST_ERR_ASYNC_CONSTRAINT':
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new TesseraError('invalid_request', 'The request URL is not valid.');
  }
  if (err instanceof SyntaxError || (fe?.statusCode === 400 && /JSON/i.test(String(fe?.message)))) {
    return new TesseraError('invalid_json', 'The request body is not valid JSON.');
  }
  if (fe?.statusCode === 413) return new TesseraError('payload_too_large', 'The request body is too large.');
  if (fe?.statusCode === 415) return new TesseraError('unsupported_media_type', 'Send the body as application/json.');
  if (isUnstorableText(err)) return new TesseraError('invalid_request', 'The request holds characters that cannot be stored.');
  if (isDatabaseUnavailable(err)) return new TesseraError('service_unavailable', 'The service is briefly unavailable; retry shortly.');
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new TesseraError('invalid_request', 'The request is not valid.');
  }
  return new TesseraError('internal_error', 'Something went wrong on our side. It has been logged.');
}

/** The merchant face's envelope: `{code, message, param, request_id}` (+ `decline_code` for declines). */
export function merchantEnvelope(e: TesseraError, requestId: string) {
  const body: Record<string, unknown> = { code: e.code, message: e.message, param: e.param ?? null, request_id: requestId };
  if (isDeclineCode(e.code)) body.decline_code = e.code;
  return body;
}

/** The network tokenization and sandbox faces' envelope: `{errorCode, message}` (the request id is in `x-request-id`). */
export function cofEnvelope(e: TesseraError) {
  return { errorCode: e.code, message: e.message };
}

/** Which envelope a request gets: by URL prefix, so unmatched routes and parser errors render right too. */
function usesCofEnvelope(request: FastifyRequest): boolean {
  return request.url.startsWith('/cof/') || request.url.startsWith('/sandbox/');
}

export function sendError(request: FastifyRequest, reply: FastifyReply, err: unknown): FastifyReply {
  const e = toTesseraError(err);
  if (e.status >= 500) {
    request.log.error({ err: safeError(err) }, 'request failed');
  }
  if (e.status === 429 || e.status === 503) reply.header('retry-after', String(e.retryAfterS ?? 1));
  const body = issuerEnvelope(request, e) ?? (usesCofEnvelope(request) ? cofEnvelope(e) : merchantEnvelope(e, request.id));
  return reply.code(e.status).type('application/json; charset=utf-8').send(body);
}

/** An error for the log: name, code and stack frames, never the message of a parser that saw a body. */
function safeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { value: typeof err };
  const code = (err as { code?: unknown }).code;
  const stack = (err.stack ?? '').split('\n').slice(1, 8).join('\n');
  return { name: err.name, code, message: err instanceof SyntaxError ? '[suppressed]' : err.message, stack };
}
