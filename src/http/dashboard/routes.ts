import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Deps } from '../../deps.ts';
import { TesseraError, type ErrorCode } from '../../domain/errors.ts';
import { toTesseraError } from '../errors.ts';
import type { Cursor } from '../../services/dashboard.ts';
import { checkCsrf, clearSessionCookie, cookieOf, COOKIE, loginPage, loginThrottle, sameOrigin, setSessionCookie } from './auth.ts';
import { html } from './html.ts';
import { layout, type Section } from './layout.ts';
import { issuersPage, merchantsPage, ORDER_STATUSES, ordersPage, overviewPage } from './pages-main.ts';
import { NETWORK_STATES, networkTokensPage, VAULT_STATES, vaultTokensPage, type TokenFilters } from './pages-tokens.ts';
import { DELIVERY_STATUSES, deliveriesPage } from './pages-deliveries.ts';
import { batchesPage, batchProgress, OPERATION_STATUSES, operationsPage } from './pages-batches.ts';
import { SANDBOX_WINDOW_S, sandboxPage } from './pages-sandbox.ts';

/** Self-hosted assets: read once at start (no build step). */
const WEB = join(import.meta.dirname, '..', '..', '..', 'web', 'dashboard');
const ASSETS: Record<string, { type: string; body: string }> = {
  'dashboard.css': { type: 'text/css; charset=utf-8', body: readFileSync(join(WEB, 'dashboard.css'), 'utf8') },
  'dashboard.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(join(WEB, 'dashboard.js'), 'utf8') },
};

/** No inline script or style, nothing from another origin, no framing, forms post only here. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Messages of `?done=…` after an action (a fixed set: nothing from the URL is echoed). */
const DONE: Record<string, string> = {
  retry: 'Delivery queued: it is being sent again now.',
  deleted: 'Token deleted: its card data is erased.',
  suspend: 'Network token suspended.',
  resume: 'Network token resumed.',
  delete: 'Network token deleted.',
};

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

function bad(param: string, message: string, code: ErrorCode = 'invalid_field'): TesseraError {
  return new TesseraError(code, message, param);
}

/** A query or form value: absent, or a string within its rules; anything else is a 400 naming the field. */
function pick(source: unknown, name: string, rule: RegExp | readonly string[]): string | undefined {
  const v = (source as Record<string, unknown> | undefined)?.[name];
  if (v === undefined || v === '') return undefined;
  const ok = typeof v === 'string' && (Array.isArray(rule) ? rule.includes(v) : (rule as RegExp).test(v));
  if (!ok) throw bad(name, Array.isArray(rule) ? `${name} must be one of ${rule.join(', ')}.` : `${name} is not valid.`);
  return v as string;
}

function required(source: unknown, name: string, rule: RegExp): string {
  const v = pick(source, name, rule);
  if (v === undefined) throw new TesseraError('missing_field', `${name} is required.`, name);
  return v;
}

function cursorOf(raw: string | undefined): Cursor | undefined {
  if (raw === undefined) return undefined;
  const m = /^(\d{1,15})~([A-Za-z0-9_.:-]{1,128})$/.exec(raw);
  if (!m) throw bad('before', 'before is not a valid page cursor.', 'invalid_cursor');
  return { at: Number(m[1]), id: m[2]! };
}

function errorPage(e: TesseraError, requestId: string, session: FastifyRequest['operator']): string {
  return layout({
    title: `Error ${e.status}`,
    session,
    body: html`<section class="card error-page" data-code="${e.code}" data-param="${e.param ?? ''}">
  <h1>${e.status === 404 ? 'Not found' : e.status === 403 ? 'Forbidden' : e.status === 429 ? 'Too many attempts' : e.status >= 500 ? 'Something went wrong' : 'Bad request'}</h1>
  <p>${e.message}</p>
  <dl class="meta"><dt>code</dt><dd><code id="error-code">${e.code}</code></dd>${e.param ? html`<dt>param</dt><dd><code id="error-param">${e.param}</code></dd>` : ''}<dt>request id</dt><dd><code>${requestId}</code></dd></dl>
  <p><a href="/dashboard">Back to the overview</a></p>
</section>`,
  });
}

/**
 * The operator dashboard (`/dashboard`): server-rendered pages over every tenant, behind an
 * operator sign-in (server-side sessions, CSRF tokens, throttled sign-in). Register under the
 * `/dashboard` prefix.
 */
export const dashboardRoutes = (deps: Deps): FastifyPluginAsync =>
  async (app: FastifyInstance) => {
    const { operators, dashboard } = deps.services;
    const publicUrl = deps.config.publicUrl;
    const throttle = loginThrottle(app, { max: deps.config.authFailuresMax, windowMs: deps.config.authFailuresWindowMs });

    // HTML pages for people, not part of the API: kept out of the OpenAPI document (and the SDK).
    app.addHook('onRoute', (route) => {
      route.schema = { ...route.schema, hide: true };
    });

    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(String(body))));
    });

    app.addHook('onRequest', async (request, reply) => {
      reply.header('content-security-policy', CSP);
      reply.header('cache-control', 'no-store');
      reply.header('referrer-policy', 'same-origin');
      const path = request.url.split('?')[0] ?? '';
      if (path === '/dashboard/login' || path.startsWith('/dashboard/assets/')) return;
      const id = cookieOf(request, COOKIE);
      const session = await operators.session(id);
      if (!session) {
        if (path.endsWith('.json')) throw new TesseraError('unauthorized', 'Sign in to the dashboard.');
        return reply.redirect('/dashboard/login', 303);
      }
      request.operator = session;
      request.operatorSessionId = id;
    });
    // Every state-changing request but the sign-in carries this session's synchronizer token.
    app.addHook('preHandler', async (request) => {
      if (request.method !== 'GET' && request.method !== 'HEAD' && request.url.split('?')[0] !== '/dashboard/login') checkCsrf(request, operators, publicUrl);
    });

    app.setErrorHandler((err, request, reply) => {
      const e = toTesseraError(err);
      // Name, code and stack frames only: a message could quote a form field.
      if (e.status >= 500) {
        const stack = err instanceof Error ? (err.stack ?? '').split('\n').slice(1, 8).join('\n') : undefined;
        request.log.error({ err: { name: (err as Error)?.name, code: (err as { code?: unknown })?.code, stack } }, 'dashboard request failed');
      }
      if (e.status === 429) reply.header('retry-after', String(e.retryAfterS ?? 1));
      reply.code(e.status);
      if (request.url.split('?')[0]?.endsWith('.json')) return reply.type('application/json; charset=utf-8').send({ code: e.code, message: e.message, param: e.param ?? null, request_id: request.id });
      return reply.type('text/html; charset=utf-8').send(errorPage(e, request.id, request.operator));
    });
    app.setNotFoundHandler((request, reply) => {
      reply.code(404).type('text/html; charset=utf-8').send(errorPage(new TesseraError('route_not_found', 'No such page.'), request.id, request.operator));
    });

    const send = (reply: FastifyReply, request: FastifyRequest, title: string, active: Section, body: ReturnType<typeof html>) => {
      const done = typeof (request.query as Record<string, unknown>)?.done === 'string' ? DONE[(request.query as Record<string, string>).done!] : undefined;
      return reply.type('text/html; charset=utf-8').send(layout({ title, active, session: request.operator, body, flash: done }));
    };
    /** After an action: back to the page the form was on (same origin, under /dashboard), with a notice. */
    const back = (request: FastifyRequest, reply: FastifyReply, fallback: string, done: string) => {
      let target = fallback;
      const referer = request.headers.referer;
      if (typeof referer === 'string' && sameOrigin(request, publicUrl)) {
        try {
          const u = new URL(referer);
          if (u.pathname.startsWith('/dashboard')) target = u.pathname + u.search;
        } catch {
          // keep the fallback
        }
      }
      const u = new URL(target, 'http://x');
      u.searchParams.set('done', done);
      return reply.redirect(u.pathname + u.search, 303);
    };

    app.get('/assets/:name', async (request, reply) => {
      const name = (request.params as { name: string }).name;
      // Own keys only: `valueOf`, `constructor`… are not assets (the fuzzer's find: a 500).
      const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined;
      if (!asset) throw new TesseraError('route_not_found', 'No such asset.');
      return reply.header('cache-control', 'public, max-age=300').type(asset.type).send(asset.body);
    });

    app.get('/login', async (request, reply) => {
      if (await operators.session(cookieOf(request, COOKIE))) return reply.redirect('/dashboard', 303);
      return reply.type('text/html; charset=utf-8').send(loginPage());
    });
    app.post('/login', async (request, reply) => {
      if (!sameOrigin(request, publicUrl)) throw new TesseraError('csrf_failed', 'The sign-in did not come from this dashboard (Origin).', 'origin');
      const body = (request.body ?? {}) as Record<string, unknown>;
      const email = typeof body.email === 'string' ? body.email.slice(0, 254) : '';
      const password = typeof body.password === 'string' ? body.password.slice(0, 1024) : '';
      const wait = await throttle.refused(request);
      if (wait > 0) {
        reply.header('retry-after', String(wait));
        return reply.code(429).type('text/html; charset=utf-8').send(loginPage({ error: `Too many failed sign-ins: try again in ${Math.ceil(wait / 60)} minute(s).`, email }));
      }
      const outcome = email && password ? await operators.login(email, password) : { ok: false as const };
      if (!outcome.ok) {
        await throttle.failed(request);
        request.log.info({ event: 'operator_login_failed' }, 'operator sign-in failed');
        return reply.code(401).type('text/html; charset=utf-8').send(loginPage({ error: 'Wrong email or password.', email }));
      }
      setSessionCookie(reply, request, publicUrl, outcome.sessionId, outcome.expiresAt);
      return reply.redirect('/dashboard', 303);
    });
    app.post('/logout', async (request, reply) => {
      await operators.logout(request.operatorSessionId!);
      clearSessionCookie(reply, request, publicUrl);
      return reply.redirect('/dashboard/login', 303);
    });

    const merchantOptions = async () => (await dashboard.merchants()).map((m) => ({ id: m.id, name: m.name }));

    app.get('/', async (request, reply) => send(reply, request, 'Overview', 'overview', overviewPage(await dashboard.overview())));
    app.get('/merchants', async (request, reply) => send(reply, request, 'Merchants', 'merchants', merchantsPage(await dashboard.merchants())));
    app.get('/issuers', async (request, reply) => send(reply, request, 'Issuers', 'issuers', issuersPage(await dashboard.issuers())));

    app.get('/tokens', async (request, reply) => {
      const kind = (pick(request.query, 'kind', ['vault', 'network'] as const) ?? 'vault') as TokenFilters['kind'];
      const f: TokenFilters = {
        kind,
        merchant: pick(request.query, 'merchant', ID),
        state: pick(request.query, 'state', kind === 'vault' ? VAULT_STATES : NETWORK_STATES),
        before: pick(request.query, 'before', /^.{1,200}$/),
      };
      const cursor = cursorOf(f.before);
      const merchants = await merchantOptions();
      const body =
        kind === 'vault'
          ? vaultTokensPage(await dashboard.vaultTokens({ merchantId: f.merchant, state: f.state, cursor }), f, merchants, request.operator!, Date.now())
          : networkTokensPage(await dashboard.networkTokens({ merchantId: f.merchant, status: f.state, cursor }), f, merchants, request.operator!);
      return send(reply, request, 'Tokens', 'tokens', body);
    });
    app.post('/tokens/vault/delete', async (request, reply) => {
      await dashboard.deleteVaultToken(required(request.body, 'merchant', ID), required(request.body, 'token', /^[0-9a-f]{64}$/));
      return back(request, reply, '/dashboard/tokens', 'deleted');
    });
    app.post('/tokens/network/:action', async (request, reply) => {
      const action = pick(request.params, 'action', ['suspend', 'resume', 'delete'] as const) as 'suspend' | 'resume' | 'delete' | undefined;
      if (!action) throw new TesseraError('route_not_found', 'No such action.');
      await dashboard.changeNetworkToken(required(request.body, 'merchant', ID), required(request.body, 'token', ID), action);
      return back(request, reply, '/dashboard/tokens?kind=network', action);
    });

    app.get('/orders', async (request, reply) => {
      const f = { merchant: pick(request.query, 'merchant', ID), status: pick(request.query, 'status', ORDER_STATUSES), before: pick(request.query, 'before', /^.{1,200}$/) };
      const p = await dashboard.orders({ merchantId: f.merchant, status: f.status, cursor: cursorOf(f.before) });
      return send(reply, request, 'Orders', 'orders', ordersPage(p, f, await merchantOptions()));
    });

    app.get('/deliveries', async (request, reply) => {
      const f = { tenant: pick(request.query, 'tenant', ID), status: pick(request.query, 'status', DELIVERY_STATUSES), before: pick(request.query, 'before', /^.{1,200}$/) };
      const p = await dashboard.deliveries({ tenantId: f.tenant, status: f.status, cursor: cursorOf(f.before) });
      const tenants = [...(await merchantOptions()), ...(await dashboard.issuers()).map((i) => ({ id: `issuer:${i.id}`, name: `${i.name} (issuer)` }))];
      return send(reply, request, 'Deliveries', 'deliveries', deliveriesPage(p, f, tenants, request.operator!));
    });
    app.post('/deliveries/retry', async (request, reply) => {
      await dashboard.retryDelivery(required(request.body, 'delivery', ID));
      return back(request, reply, '/dashboard/deliveries', 'retry');
    });

    app.get('/batches', async (request, reply) => send(reply, request, 'Batches', 'batches', batchesPage(await dashboard.batches())));
    app.get('/batches.json', async () => batchProgress(await dashboard.batches()));

    app.get('/click-to-pay', async (request, reply) => {
      const f = { issuer: pick(request.query, 'issuer', ID), status: pick(request.query, 'status', OPERATION_STATUSES), before: pick(request.query, 'before', /^.{1,200}$/) };
      const p = await dashboard.operations({ issuerId: f.issuer, status: f.status, cursor: cursorOf(f.before) });
      const issuers = (await dashboard.issuers()).map((i) => ({ id: i.id, name: i.name }));
      return send(reply, request, 'Click to Pay', 'operations', operationsPage(p, f, issuers));
    });

    app.get('/sandbox', async (request, reply) => send(reply, request, 'Sandbox', 'sandbox', sandboxPage(await dashboard.sandbox(SANDBOX_WINDOW_S), deps.config.sandboxIssuerTps)));
  };
