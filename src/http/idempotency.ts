import type { FastifyInstance, FastifyReply, FastifyRequest, onSendHookHandler, preHandlerHookHandler } from 'fastify';
import type { IdempotencyService } from '../services/idempotency.ts';
import { issuerTenant } from '../domain/issuer.ts';
import './merchant-auth.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The `Idempotency-Key` this request claimed (its answer is stored when sent). */
    idempotencyKey?: string | undefined;
  }
}

/** The vault tenant a request acts for: a merchant, or an issuer (`issuer:<id>`). */
function tenantOf(request: FastifyRequest): string | undefined {
  if (request.merchantId) return request.merchantId;
  const issuerId = (request as FastifyRequest & { issuerId?: string }).issuerId;
  return issuerId ? issuerTenant(issuerId) : undefined;
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Puts `Idempotency-Key` on every POST route registered after it, on every face (present and
 * future): a route-level `preHandler` runs after each face's own authentication hooks, so the key
 * is scoped to the authenticated tenant (a merchant, or an issuer). Requests without a tenant (the
 * key-pair login, the OAuth token endpoint) are not covered: they change nothing, and streamed
 * uploads (issuer batch files) are idempotent by their own `batchId` + `seqNumber`. Schema validation runs first, so a refused
 * body never claims a key.
 */
export function installIdempotency(app: FastifyInstance, service: IdempotencyService): void {
  const preHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers['idempotency-key'];
    const tenant = tenantOf(request);
    const body = request.body as { pipe?: unknown } | undefined;
    if (header === undefined || !tenant || typeof body?.pipe === 'function') return;
    const key = service.validKey(header);
    const outcome = await service.begin(tenant, key, `${request.method}\n${request.url}\n${JSON.stringify(request.body ?? null)}`);
    if (outcome.kind === 'replay') {
      reply.header('idempotent-replayed', 'true');
      if (outcome.type) reply.header('content-type', outcome.type);
      return reply.code(outcome.status).send(outcome.body);
    }
    request.idempotencyKey = key;
  };

  const onSend = async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const key = request.idempotencyKey;
    if (!key) return payload;
    request.idempotencyKey = undefined;
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
    const type = reply.getHeader('content-type');
    try {
      await service.finish(tenantOf(request) ?? '', key, reply.statusCode, typeof type === 'string' ? type : null, body);
    } catch (err) {
      // The answer still goes out; the claim lapses after its lock and a retry redoes the request.
      request.log.error({ err: err instanceof Error ? err.name : 'error' }, 'idempotency answer not stored');
    }
    return payload;
  };

  app.addHook('onRoute', (route) => {
    if (!asArray(route.method).includes('POST')) return;
    route.preHandler = [...asArray(route.preHandler as preHandlerHookHandler | preHandlerHookHandler[] | undefined), preHandler as preHandlerHookHandler];
    route.onSend = [...asArray(route.onSend as onSendHookHandler | onSendHookHandler[] | undefined), onSend as onSendHookHandler];
  });
}
