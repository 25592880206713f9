import type { FastifyReply, FastifyRequest } from 'fastify';
import { containsPan } from '../domain/card.ts';
import { TesseraError } from '../domain/errors.ts';
import type { AuthService } from '../services/auth.ts';
import './merchant-auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The `x-correlation-id` of a `/cof/v1` request (validated). */
    correlationId: string;
  }
}

const CORRELATION_ID = /^[\x21-\x7e]{1,36}$/;

/** `authorization: APIKEY <privateKey>` → the merchant. Runs before the body is read. */
export function apiKeyHook(auth: AuthService) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' && header.length <= 512 ? /^APIKEY\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match?.[1]) throw new TesseraError('unauthorized', 'Missing or invalid credentials: send authorization: APIKEY <privateKey>.');
    request.merchantId = (await auth.merchantByApiKey(match[1])).merchantId;
  };
}

/** Requires `x-correlation-id` (1–36 printable characters) and echoes it in the response. */
export async function correlationHook(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const value = request.headers['x-correlation-id'];
  if (value === undefined || value === '') {
    throw new TesseraError('invalid_correlation_id', 'The x-correlation-id header is required (1–36 characters).', 'x-correlation-id');
  }
  if (typeof value !== 'string' || !CORRELATION_ID.test(value)) {
    throw new TesseraError('invalid_correlation_id', 'x-correlation-id must be 1–36 printable characters.', 'x-correlation-id');
  }
  // It is echoed, logged and stored with notifications: a card number pasted into it goes no further.
  if (containsPan(value)) {
    throw new TesseraError('invalid_correlation_id', 'x-correlation-id must not contain a card number.', 'x-correlation-id');
  }
  request.correlationId = value;
  reply.header('x-correlation-id', value);
}
