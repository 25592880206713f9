import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TesseraError } from '../../domain/errors.ts';
import type { OperatorService, OperatorSession } from '../../services/operators.ts';
import { html } from './html.ts';
import { layout } from './layout.ts';

/** The session cookie: `Path=/dashboard`, `HttpOnly`, `SameSite=Strict`, `Secure` over https. */
export const COOKIE = 'tessera_operator';

declare module 'fastify' {
  interface FastifyRequest {
    operator?: OperatorSession;
    operatorSessionId?: string;
  }
}

export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (typeof header !== 'string') return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * `Secure` whenever the dashboard is reached over https (TLS at Tessera, or `TESSERA_PUBLIC_URL`
 * says https behind a proxy). On plain-http localhost it is left off: a browser would not send a
 * `Secure` cookie back over http, so nobody could sign in.
 */
function secure(request: FastifyRequest, publicUrl: string): boolean {
  return request.protocol === 'https' || publicUrl.startsWith('https:');
}

export function setSessionCookie(reply: FastifyReply, request: FastifyRequest, publicUrl: string, id: string, expiresAt: number): void {
  const maxAge = Math.max(0, Math.round((expiresAt - Date.now()) / 1000));
  reply.header('set-cookie', `${COOKIE}=${id}; Path=/dashboard; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure(request, publicUrl) ? '; Secure' : ''}`);
}

export function clearSessionCookie(reply: FastifyReply, request: FastifyRequest, publicUrl: string): void {
  reply.header('set-cookie', `${COOKIE}=; Path=/dashboard; Max-Age=0; HttpOnly; SameSite=Strict${secure(request, publicUrl) ? '; Secure' : ''}`);
}

/**
 * A state-changing request must come from a page of this dashboard: its `Origin` (or, without
 * one, its `Referer`) is the origin it was served on or `TESSERA_PUBLIC_URL`'s.
 */
export function sameOrigin(request: FastifyRequest, publicUrl: string): boolean {
  const originOf = (url: string) => {
    try {
      return new URL(url).origin;
    } catch {
      return undefined;
    }
  };
  const allowed = new Set([originOf(`${request.protocol}://${request.host}`), originOf(publicUrl)]);
  allowed.delete(undefined);
  const origin = request.headers.origin;
  if (typeof origin === 'string' && origin !== 'null') return allowed.has(originOf(origin));
  const referer = request.headers.referer;
  return typeof referer === 'string' && allowed.has(originOf(referer));
}

/** Refuses a state-changing request without this session's synchronizer token or from another origin: 403 `csrf_failed`. */
export function checkCsrf(request: FastifyRequest, operators: OperatorService, publicUrl: string): void {
  if (!sameOrigin(request, publicUrl)) throw new TesseraError('csrf_failed', 'The request did not come from this dashboard (Origin).', 'origin');
  const token = (request.body as Record<string, unknown> | undefined)?._csrf;
  if (!request.operatorSessionId || !operators.checkCsrf(request.operatorSessionId, token)) {
    throw new TesseraError('csrf_failed', 'The form is stale or forged: reload the page and try again.', '_csrf');
  }
}

export function loginPage(opts: { error?: string | undefined; email?: string | undefined } = {}): string {
  return layout({
    title: 'Sign in',
    body: html`<section class="login card">
  <h1><span class="logo" aria-hidden="true">◆</span> Tessera operator</h1>
  <p class="muted">Sign in with the account <code>tessera admin create</code> made.</p>
  ${opts.error ? html`<p class="error" role="alert" id="login-error">${opts.error}</p>` : ''}
  <form method="post" action="/dashboard/login" class="stack">
    <label>Email <input type="email" name="email" autocomplete="username" required value="${opts.email ?? ''}"></label>
    <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
    <button type="submit" class="primary">Sign in</button>
  </form>
</section>`,
  });
}

/**
 * Failed sign-ins per client IP and email, and per IP alone (ten times as many), in
 * `TESSERA_AUTH_FAILURES_WINDOW_S`: past `TESSERA_AUTH_FAILURES_MAX` the sign-in is answered 429
 * before any password is checked. Successful sign-ins are never limited.
 */
export function loginThrottle(app: FastifyInstance, opts: { max: number; windowMs: number }) {
  const byEmail = app.createRateLimit({ max: opts.max, timeWindow: opts.windowMs, keyGenerator: (r) => `op|${r.ip}|${emailOf(r)}` });
  const byIp = app.createRateLimit({ max: opts.max * 10, timeWindow: opts.windowMs, keyGenerator: (r) => `op|${r.ip}` });
  const emailOf = (r: FastifyRequest) => String((r.body as Record<string, unknown> | undefined)?.email ?? '').trim().toLowerCase().slice(0, 254);
  return {
    /** Seconds to wait, or 0 when the attempt may go ahead. */
    async refused(request: FastifyRequest): Promise<number> {
      for (const limiter of [byEmail, byIp]) {
        const status = await limiter(request, { increment: false });
        if (!status.isAllowed && status.remaining <= 0) return Math.max(1, status.ttlInSeconds);
      }
      return 0;
    },
    async failed(request: FastifyRequest): Promise<void> {
      await byEmail(request);
      await byIp(request);
    },
  };
}
