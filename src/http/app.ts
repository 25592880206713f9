import { randomBytes } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { Deps } from '../deps.ts';
import { TesseraError } from '../domain/errors.ts';
import { sendError } from './errors.ts';
import { merchantVaultRoutes } from './routes/merchant-vault.ts';
import { cofRoutes } from './routes/cof.ts';
import { sandboxRoutes } from './routes/sandbox.ts';
import { installIdempotency } from './idempotency.ts';
import { orderRoutes, payPageRoutes } from './routes/orders.ts';
import { batchRoutes } from './routes/batches.ts';
import { issuerAuthzRoutes } from './routes/issuer-authz.ts';
import { bankingRoutes } from './routes/banking.ts';
import { auditRoutes } from './routes/audit.ts';
import { installAuthThrottle } from './auth-throttle.ts';
import { installSecurityHeaders } from './security-headers.ts';
import { installOperations, operationsRoutes } from './operations.ts';
import { dashboardRoutes } from './dashboard/routes.ts';
import { elementsRoutes } from './routes/elements.ts';
import { merchantSettingsRoutes } from './routes/merchant-settings.ts';
import { installRouteTable } from './route-table.ts';
import { docsWithoutQuery } from './docs-guard.ts';
import { installInputGuards } from './input-guards.ts';

/** Body limit of the merchant face. 64 KiB. */
export const MERCHANT_BODY_LIMIT = 64 * 1024;

const REQ_PREFIX = randomBytes(6).toString('hex');
let requestCounter = 0;

/** Builds the HTTP app over already-built deps. Does not listen. */
export async function buildApp(deps: Deps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: MERCHANT_BODY_LIMIT,
    // Request ids need to be unique, not secret: a per-process random prefix and a counter.
    genReqId: () => `req_${REQ_PREFIX}${(++requestCounter).toString(36).padStart(8, '0')}`,
    requestIdHeader: false,
    return503OnClosing: true,
    // Behind a reverse proxy (nginx in the cluster), the client's address comes from X-Forwarded-For
    // set by these proxies only (TESSERA_TRUST_PROXY); otherwise every client looks like the proxy.
    ...(deps.config.trustProxy ? { trustProxy: deps.config.trustProxy } : {}),
    // A bad URL or a path segment over maxParamLength is answered in the face's envelope too (Fastify's
    // own 414 answer quotes the whole path, card number included).
    frameworkErrors: (err, request, reply) => sendError(request, reply, err),
    ajv: {
      customOptions: {
        // Validate, never repair: unknown fields are refused, types are not coerced.
        removeAdditional: false,
        coerceTypes: false,
        useDefaults: false,
        allErrors: false,
      },
    },
  });
  // Every route, as registered: the fuzzing and tenant-isolation tests walk it (src/http/route-table.ts).
  installRouteTable(app);
  installInputGuards(app);

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // Security headers on every answer; /docs gets its own CSP from swagger-ui (`staticCSP`).
  installSecurityHeaders(app);
  await installAuthThrottle(app, { max: deps.config.authFailuresMax, windowMs: deps.config.authFailuresWindowMs });
  // One line per request: method, route pattern (never the raw URL, which may carry a token), status.
  const logRequests = deps.log.isLevelEnabled('info');
  app.addHook('onResponse', async (request, reply) => {
    if (!logRequests) return;
    request.log.info(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status: reply.statusCode, ms: Math.round(reply.elapsedTime) },
      'request',
    );
  });

  app.setErrorHandler((err, request, reply) => sendError(request, reply, err));
  app.setNotFoundHandler((request, reply) => sendError(request, reply, new TesseraError('route_not_found', 'No such route.')));

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Tessera',
        version: '0.1.0',
        description:
          'Payment-card tokenization: the merchant vault face (`/api`, Ecart Pay style; errors `{code, message, param, request_id}`), the network tokenization face (`/cof/v1`, Thales style) and the sandbox network (`/sandbox/v1`) (errors `{errorCode, message}`, request id in `x-request-id`).',
      },
      components: {
        securitySchemes: {
          merchantKeys: { type: 'http', scheme: 'basic', description: 'publicKey:privateKey' },
          merchantJwt: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'The JWT from /api/authorizations/token, with or without `Bearer `.' },
          cofApiKey: { type: 'apiKey', in: 'header', name: 'authorization', description: '`APIKEY <privateKey>` (network tokenization and sandbox faces).' },
          publishableKey: { type: 'http', scheme: 'bearer', description: 'A publishable key (`pk_test_…`): only from Tessera\'s card frame, for an allowed origin (`Tessera-Parent-Origin`).' },
          issuerBearer: { type: 'http', scheme: 'bearer', description: 'The access_token from POST /authz/v1/oauth2/token (issuer face; errors `{errorCode, errorDescription, field, requestId}`, OAuth errors `{error, error_description}`).' },
        },
      },
    },
  });
  // The docs pages take no query: swagger-ui would echo one into a redirect (a card number with it).
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiHooks: { onRequest: docsWithoutQuery } });
  // Metrics and request-trace hooks for every route; `/metrics` and `/ready` (README "Operations").
  installOperations(app, deps);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/health', { schema: { tags: ['operations'], summary: 'Alive (liveness); readiness is GET /ready' } }, async () => ({ status: 'ok' }));
  await app.register(operationsRoutes(deps));

  // The operator dashboard: HTML forms with their own CSRF tokens, outside `Idempotency-Key`.
  await app.register(dashboardRoutes(deps), { prefix: '/dashboard' });
  // Before any route: every POST registered from here on honours `Idempotency-Key`.
  installIdempotency(app, deps.services.idempotency);
  await app.register(merchantVaultRoutes(deps), { prefix: '/api' });
  await app.register(cofRoutes(deps), { prefix: '/cof/v1' });
  await app.register(batchRoutes(deps), { prefix: '/cof/v1' });
  // The simulated network exists only outside production.
  if (deps.config.env !== 'production') await app.register(sandboxRoutes(deps), { prefix: '/sandbox/v1' });
  await app.register(orderRoutes(deps), { prefix: '/api' });
  await app.register(auditRoutes(deps), { prefix: '/api' });
  await app.register(payPageRoutes(deps));
  // Hosted card fields (issue 7): the publishable key's settings, tessera.js, the card frame.
  await app.register(merchantSettingsRoutes(deps), { prefix: '/api' });
  await app.register(elementsRoutes(deps), { prefix: '/elements/v1' });
  await app.register(issuerAuthzRoutes(deps), { prefix: '/authz/v1' });
  await app.register(bankingRoutes(deps), { prefix: '/banking/v1' });
  return app;
}
