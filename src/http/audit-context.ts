import { AsyncResource } from 'node:async_hooks';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { auditContext } from '../services/audit.ts';

const RESOURCE = Symbol('audit-context');

/**
 * Makes the request id available to the audit log (`auditContext`) for the whole request. The
 * body is read between `onRequest` and `preValidation` from stream events, outside the context,
 * so the context is re-entered there (as @fastify/request-context does).
 */
export function installAuditContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, _reply, done) => {
    auditContext.run({ requestId: request.id }, () => {
      const resource = new AsyncResource('tessera-audit-context');
      (request as FastifyRequest & { [RESOURCE]?: AsyncResource })[RESOURCE] = resource;
      resource.runInAsyncScope(done, request.raw);
    });
  });
  app.addHook('preValidation', (request, _reply, done) => {
    const resource = (request as FastifyRequest & { [RESOURCE]?: AsyncResource })[RESOURCE];
    if (resource) resource.runInAsyncScope(done, request.raw);
    else done();
  });
}
