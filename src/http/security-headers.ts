import helmet from 'helmet';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Helmet's default security headers, computed once. `@fastify/helmet` builds a new helmet
 * middleware (and re-parses the CSP) on every request — measured at 5 % of a token request — while
 * the headers of an API never change. Routes that set their own CSP (swagger-ui's `/docs`) override
 * it after this hook.
 */
function helmetDefaults(): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => {
      headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
    },
    removeHeader: (name: string) => {
      delete headers[name.toLowerCase()];
    },
  };
  helmet()({} as IncomingMessage, res as unknown as ServerResponse, () => {});
  return headers;
}

export function installSecurityHeaders(app: FastifyInstance): void {
  const headers = helmetDefaults();
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(headers);
  });
}
