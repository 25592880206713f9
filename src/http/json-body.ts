import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../domain/errors.ts';

/** The deepest JSON body accepted. No request of any face nests beyond ~6 levels. 64. */
export const MAX_JSON_DEPTH = 64;

/** How deep `value` nests, counted without recursion (a hostile body can be 100,000 levels deep). */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
  }
  return deepest;
}

/**
 * Fastify's own JSON parser (prototype-poisoning checks included) plus a depth limit: `JSON.parse`
 * copes with any depth, but everything after it that recurses — schema validation, `JSON.stringify`
 * of the idempotency fingerprint — overflowed the stack on a 20,000-deep body and answered 500.
 */
export function installJsonBodyParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, String(body), (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      if (jsonDepth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) return done(new TesseraError('invalid_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`), undefined);
      done(null, value);
    });
  });
}
