import type { FastifyInstance, FastifySchema } from 'fastify';

/** One registered route: what the app answers, as Fastify saw it when it was added. */
export interface RouteEntry {
  method: string;
  /** The route pattern, e.g. `/api/tokens/:token`. */
  url: string;
  schema: FastifySchema | undefined;
}

const TABLES = new WeakMap<FastifyInstance, RouteEntry[]>();

/**
 * Records every route added from now on (an `onRoute` hook on the root, so routes of every plugin,
 * including ones added later by other modules, are listed). Tests walk this table so that a new
 * route is fuzzed and put through the tenant-isolation matrix without anyone listing it by hand.
 */
export function installRouteTable(app: FastifyInstance): void {
  const table: RouteEntry[] = [];
  TABLES.set(app, table);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) table.push({ method: String(method).toUpperCase(), url: route.url, schema: route.schema });
  });
}

/** The routes `app` registered since `installRouteTable` (empty for another instance). */
export function routeTable(app: FastifyInstance): readonly RouteEntry[] {
  return TABLES.get(app) ?? [];
}
