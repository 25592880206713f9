import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * swagger-ui's `/docs` pages take no query string, but echo one: `/docs/static/index.html?…`
 * redirects to itself with the query in `location`, and the index page is rendered from the raw
 * URL. A card number pasted into such a link would come back in an answer, so a `/docs` URL with a
 * query is redirected to its path alone.
 */
export async function docsWithoutQuery(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const q = request.url.indexOf('?');
  if (q === -1) return;
  return reply.redirect(request.url.slice(0, q), 302);
}
