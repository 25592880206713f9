import type { FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.ts';
import type { AuthService } from '../services/auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated merchant of a merchant-face request. */
    merchantId: string;
  }
}

const unauthorized = () => new TesseraError('unauthorized', 'Missing or invalid credentials.');

/** `Authorization: Basic base64(publicKey:privateKey)` → the key pair. */
export function basicCredentials(request: FastifyRequest): { publicKey: string; privateKey: string } {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || !/^Basic\s+/i.test(header)) throw unauthorized();
  const decoded = Buffer.from(header.replace(/^Basic\s+/i, '').trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1 || colon === decoded.length - 1 || decoded.length > 512) throw unauthorized();
  return { publicKey: decoded.slice(0, colon), privateKey: decoded.slice(colon + 1) };
}

/** `Authorization: <JWT>` or `Authorization: Bearer <JWT>` → the merchant. */
export function merchantJwtHook(auth: AuthService) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (typeof header !== 'string' || header.length > 4096) throw unauthorized();
    const token = header.replace(/^Bearer\s+/i, '').trim();
    if (token.split('.').length !== 3) throw unauthorized();
    request.merchantId = (await auth.verifyToken(token)).merchantId;
  };
}
