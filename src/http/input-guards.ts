import type { FastifyInstance } from 'fastify';
import { TesseraError } from '../domain/errors.ts';

/** The deepest JSON body accepted. No request of any face nests beyond ~6 levels. 64. */
export const MAX_JSON_DEPTH = 64;

const hasNul = (v: unknown) => typeof v === 'string' && v.includes('\u0000');

/**
 * What is wrong with a parsed body, if anything: nesting deeper than `limit` (counted without
 * recursion: a hostile body can be 100,000 levels deep), or a NUL character in a key or a string
 * (PostgreSQL cannot store one in text and answered 500).
 */
export function jsonProblem(value: unknown, limit: number): 'too_deep' | 'nul' | undefined {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (hasNul(v)) return 'nul';
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) return 'too_deep';
    for (const [key, child] of Object.entries(v)) {
      if (hasNul(key)) return 'nul';
      stack.push([child, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Fastify's own JSON parser (prototype-poisoning checks included) plus a depth limit and a NUL
 * check; NULs in path parameters and queries are refused too. `JSON.parse`
 * copes with any depth, but everything after it that recurses — schema validation, `JSON.stringify`
 * of the idempotency fingerprint — overflowed the stack on a 20,000-deep body and answered 500.
 */
export function installInputGuards(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, String(body), (err: Error | null, value?: unknown) => {
      if (err) return done(err, undefined);
      const problem = jsonProblem(value, MAX_JSON_DEPTH);
      if (problem === 'too_deep') return done(new TesseraError('invalid_json', `The request body nests deeper than ${MAX_JSON_DEPTH} levels.`), undefined);
      if (problem === 'nul') return done(new TesseraError('invalid_request', 'The request body must not contain NUL characters.'), undefined);
      done(null, value);
    });
  });
  // The same for path parameters and the query string, before any handler reads them.
  app.addHook('preValidation', async (request) => {
    const values = [...Object.values((request.params ?? {}) as Record<string, unknown>), ...Object.values((request.query ?? {}) as Record<string, unknown>).flat()];
    if (values.some(hasNul)) throw new TesseraError('invalid_request', 'The URL must not contain NUL characters.');
  });
}
