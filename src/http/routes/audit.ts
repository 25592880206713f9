import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Deps } from '../../deps.ts';
import { merchantJwtHook } from '../merchant-auth.ts';
import { ErrorBody } from '../schemas/merchant.ts';

const AuditRecord = Type.Object({
  id: Type.String({ description: 'The record\'s position in the audit chain.' }),
  operation: Type.String({ description: 'What was done with card data, e.g. `order.pay`, `network_token.create`.' }),
  reason: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()], { description: 'Which object (an id, never a card number or token).' }),
  request_id: Type.Union([Type.String(), Type.Null()], { description: 'The request that caused it (for background work, the request that started it), or null.' }),
  created_at: Type.String({ format: 'date-time' }),
  hash: Type.String({ description: 'The chain hash of this record.' }),
});

const AuditList = Type.Object({ data: Type.Array(AuditRecord), next_cursor: Type.Union([Type.String(), Type.Null()]) });

const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100. Default 20.' })),
    cursor: Type.Optional(Type.String({ maxLength: 32, description: '`next_cursor` of the previous page.' })),
  },
  { additionalProperties: false },
);

/** `GET /api/audit`: the caller's own audit records (each access to its card data), newest first. */
export const auditRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('preHandler', merchantJwtHook(deps.services.auth));
    app.get(
      '/audit',
      {
        schema: {
          tags: ['audit'],
          summary: 'Your audit log: every access to your card data, newest first',
          security: [{ merchantJwt: [] }],
          querystring: AuditQuery,
          response: { 200: AuditList, 400: ErrorBody, 401: ErrorBody },
        },
      },
      async (request) => {
        const q = request.query;
        return deps.audit.list(request.merchantId, { limit: q.limit === undefined ? undefined : Number(q.limit), cursor: q.cursor });
      },
    );
  };
