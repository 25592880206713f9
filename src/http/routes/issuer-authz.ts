import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Deps } from '../../deps.ts';
import { AccessToken, OAuthError, TokenRequestBody } from '../schemas/banking.ts';

/** Form bodies of the token endpoint are small. 16 KiB. */
const FORM_LIMIT = 16 * 1024;

/** The issuer face's OAuth 2.0 token endpoint (`/authz/v1`): JWT-bearer grants (RFC 7523). */
export const issuerAuthzRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    // RFC 6749 §4.1.3: the token endpoint takes forms only; JSON is refused (415) in this scope.
    app.removeContentTypeParser('application/json');
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_LIMIT }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });
    app.post(
      '/oauth2/token',
      {
        schema: {
          tags: ['issuers'],
          summary: 'An access token (15 minutes) for an ES256 JWT-bearer assertion signed by a registered issuer key',
          consumes: ['application/x-www-form-urlencoded'],
          body: TokenRequestBody,
          response: { 200: AccessToken, 400: OAuthError, 401: OAuthError },
        },
      },
      async (request, reply) => {
        const token = await deps.services.issuers.token(request.body.grant_type, request.body.assertion);
        return reply.header('cache-control', 'no-store').send(token);
      },
    );
  };
