import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** The browser files of hosted fields and the payment page (`web/elements/`), read once at start. */
const WEB = fileURLToPath(new URL('../../web/elements/', import.meta.url));

export interface Asset {
  body: string;
  type: string;
}

export function loadAsset(name: string): Asset {
  const type = name.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
  return { body: readFileSync(WEB + name, 'utf8'), type };
}

/** Content-Security-Policy of a Tessera page: nothing but its own scripts, styles and calls. */
export function pageCsp(frameAncestors: string, frameSrc = "'none'"): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    `frame-src ${frameSrc}`,
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors}`,
  ].join('; ');
}

/** Sends an HTML page with its own CSP (replacing helmet's default) and no caching. */
export function sendPage(reply: FastifyReply, status: number, html: string, csp: string): FastifyReply {
  // frame-ancestors says who may embed the page; X-Frame-Options (helmet: SAMEORIGIN) would
  // contradict it for the card frame, and browsers that know CSP level 2 ignore it anyway.
  reply.removeHeader('x-frame-options');
  return reply.code(status).header('content-security-policy', csp).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
}

/**
 * Tessera's own origins as browsers name them: the configured public URL's, and the one this
 * request reached (`Host`), so a proxy that keeps `Host` and a direct connection both match.
 */
export function selfOrigins(request: FastifyRequest, publicUrl: string): string[] {
  const origins = [new URL(publicUrl).origin];
  const host = request.headers.host;
  if (typeof host === 'string' && /^[A-Za-z0-9.\-[\]:]{1,255}$/.test(host)) origins.push(`${request.protocol}://${host.toLowerCase()}`);
  return origins;
}

/** The request came from a page on Tessera's own origin (its card frame or payment page). */
export function fromSelf(request: FastifyRequest, publicUrl: string): boolean {
  const origin = request.headers.origin;
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return false;
  return typeof origin === 'string' && selfOrigins(request, publicUrl).includes(origin);
}
