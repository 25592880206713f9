import type { FastifyRequest } from 'fastify';
import type { TesseraError } from '../domain/errors.ts';

const OAUTH_CODES = new Set(['invalid_request', 'invalid_grant', 'invalid_client', 'unsupported_grant_type']);

/** The OAuth token endpoint's envelope (RFC 6749 §5.2): `{error, error_description}`. */
export function oauthEnvelope(e: TesseraError) {
  let error: string = e.code;
  if (!OAUTH_CODES.has(error)) error = e.status === 401 ? 'invalid_client' : e.status >= 500 || e.status === 429 ? 'temporarily_unavailable' : 'invalid_request';
  return { error, error_description: e.message };
}

/** The issuer face's envelope (D1 style): `{errorCode, errorDescription, field, requestId}`. */
export function bankingEnvelope(e: TesseraError, requestId: string) {
  return { errorCode: e.code, errorDescription: e.message, field: e.param ?? null, requestId };
}

/** The issuer faces' envelopes by URL prefix; undefined for the other faces. */
export function issuerEnvelope(request: FastifyRequest, e: TesseraError): Record<string, unknown> | undefined {
  if (request.url.startsWith('/authz/')) return oauthEnvelope(e);
  if (request.url.startsWith('/banking/')) return bankingEnvelope(e, request.id);
  return undefined;
}
