import type { FastifyRequest } from 'fastify';
import { TesseraError } from '../domain/errors.ts';
import type { IssuerService } from '../services/issuers.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The issuer an access token was granted to (`/banking/v1/issuers/:issuerId/…`). */
    issuerId: string;
  }
}

/**
 * `authorization: Bearer <access_token>` → the issuer, which must be the `:issuerId` of the path:
 * a token of another issuer is 401, as if it were no token (issuers never learn of each other).
 * Runs before the body is read.
 */
export function bearerHook(issuers: IssuerService) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' && header.length <= 4096 ? /^Bearer\s+(\S+)$/i.exec(header.trim()) : null;
    if (!match?.[1]) throw new TesseraError('unauthorized', 'Missing or invalid access token: send authorization: Bearer <access_token> from POST /authz/v1/oauth2/token.');
    const issuerId = await issuers.verifyAccessToken(match[1]);
    const inPath = (request.params as { issuerId?: string }).issuerId;
    if (inPath !== issuerId) throw new TesseraError('unauthorized', 'This access token is not valid for this issuerId.', 'issuerId');
    request.issuerId = issuerId;
  };
}
