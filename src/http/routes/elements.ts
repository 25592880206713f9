import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { brandOf } from '../../domain/card.ts';
import { TesseraError } from '../../domain/errors.ts';
import { normalizeOrigin } from '../../domain/origins.ts';
import type { Deps } from '../../deps.ts';
import { fromSelf, loadAsset, pageCsp, selfOrigins, sendPage, type Asset } from '../elements-assets.ts';
import { escapeHtml, FRAME_STRINGS, jsonForHtml, localeOf, type Locale } from '../elements-i18n.ts';
import { ErrorBody } from '../schemas/merchant.ts';
import { ElementsTokenBody, ElementsTokenCreated, FrameQuery } from '../schemas/elements.ts';
import { declineMessage } from './merchant-vault.ts';

interface FrameConfig {
  mode: 'fields' | 'pay';
  parentOrigin: string | null;
  key?: string;
  order?: string;
  error?: { code: string; message: string };
}

/** The card frame's HTML: labelled inputs with their error slots, or only a refusal. */
function framePage(locale: Locale, config: FrameConfig): string {
  const t = FRAME_STRINGS[locale];
  const field = (id: string, label: string, attrs: string) =>
    `<div class="field"><label for="${id}">${escapeHtml(label)}</label><div class="input-wrap"><input id="${id}" ${attrs} aria-invalid="false" aria-describedby="${id}-error" required>${id === 'number' ? '<span class="brand" id="brand" aria-hidden="true"></span>' : ''}</div><p class="error" id="${id}-error" aria-live="polite"></p></div>`;
  const body = config.error
    ? `<p class="refused" role="alert">${escapeHtml(t.errors[config.error.code] ?? config.error.message)}</p>`
    : `<form id="card" novalidate>
${field('number', t.number, 'name="cardnumber" type="text" inputmode="numeric" autocomplete="cc-number" placeholder="1234 1234 1234 1234" spellcheck="false"')}
<div class="row">
${field('expiry', t.expiry, `name="cc-exp" type="text" inputmode="numeric" autocomplete="cc-exp" placeholder="${locale === 'es' ? 'MM / AA' : 'MM / YY'}" maxlength="9"`)}
${field('cvc', t.cvc, 'name="cvc" type="text" inputmode="numeric" autocomplete="cc-csc" placeholder="123" maxlength="4"')}
</div>
${field('name', t.name, `name="ccname" type="text" autocomplete="cc-name" placeholder="${escapeHtml(t.name_placeholder)}" maxlength="100"`)}
<p class="form-error" id="form-error" role="alert"></p>
</form>`;
  return `<!doctype html>
<html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(t.title)}</title><link rel="stylesheet" href="/elements/v1/card-frame.css"></head>
<body>${body}
<script type="application/json" id="tessera-config">${jsonForHtml({ ...config, strings: t })}</script>
<script src="/elements/v1/card-frame.js"></script>
</body></html>`;
}

/**
 * Hosted card fields (`/elements/v1`): the parent-page script, the card frame and the publishable
 * key's one call. No CORS anywhere: the parent page never calls Tessera, only the frame does, from
 * Tessera's own origin.
 */
export const elementsRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { elements, tokens, orders } = deps.services;
    const publicUrl = deps.config.publicUrl;
    const assets: Record<string, Asset> = {};
    for (const name of ['tessera.js', 'card-frame.js', 'card-frame.css', 'pay.js', 'pay.css']) assets[name] = loadAsset(name);

    for (const name of Object.keys(assets)) {
      app.get(`/${name}`, { schema: { hide: true } }, async (_request, reply) => {
        const asset = assets[name]!;
        // tessera.js is loaded by merchants' pages: a cross-origin <script>, which helmet's
        // Cross-Origin-Resource-Policy: same-origin would block. The frame's files stay same-origin.
        if (name === 'tessera.js') reply.header('cross-origin-resource-policy', 'cross-origin');
        return reply.type(asset.type).header('cache-control', 'public, max-age=300').send(asset.body);
      });
    }

    app.get(
      '/card-frame',
      { schema: { hide: true, querystring: FrameQuery } },
      async (request, reply) => {
        const q = request.query;
        const locale = localeOf(q.locale);
        let origin: string | null;
        try {
          origin = normalizeOrigin(q.origin, 'origin');
        } catch {
          origin = null;
        }
        const refuse = (code: string, message: string) =>
          // The refusal may be shown to the origin it names: it holds no inputs and nothing secret.
          sendPage(reply, code === 'unauthorized' ? 401 : 403, framePage(locale, { mode: 'fields', parentOrigin: origin, error: { code, message } }), pageCsp(origin ?? "'none'"));
        if (!origin) return refuse('origin_not_allowed', 'The parent origin is not valid.');
        if (q.order !== undefined) {
          // The hosted payment page: only Tessera's own page may embed a frame that pays an order.
          if (!selfOrigins(request, publicUrl).includes(origin)) return refuse('origin_not_allowed', 'Only the hosted payment page can pay an order.');
          const found = await orders.forPayPage(q.order);
          if (!found) return refuse('order_not_found', 'No such order.');
          if (found.order.status !== 'created') return refuse('order_not_payable', 'The order can no longer be paid.');
          return sendPage(reply, 200, framePage(locale, { mode: 'pay', parentOrigin: origin, order: found.order.id }), pageCsp("'self'"));
        }
        try {
          await elements.authenticate(q.key ?? '', origin);
        } catch (err) {
          if (err instanceof TesseraError) return refuse(err.code, err.message);
          throw err;
        }
        return sendPage(reply, 200, framePage(locale, { mode: 'fields', parentOrigin: origin, key: q.key! }), pageCsp(origin));
      },
    );

    // Stricter than any other merchant call: a publishable key is public, so its budget is per
    // client IP and key (`TESSERA_ELEMENTS_RATE_MAX` per `TESSERA_ELEMENTS_RATE_WINDOW_S`).
    const limiter = app.createRateLimit({
      max: deps.config.elementsRateMax,
      timeWindow: deps.config.elementsRateWindowMs,
      keyGenerator: (r: FastifyRequest) => `elements|${r.ip}|${publishableKeyOf(r).slice(0, 64)}`,
    });

    app.post(
      '/tokens',
      {
        schema: {
          tags: ['hosted fields'],
          summary: "The card frame's tokenization with a publishable key (only from Tessera's frame on an allowed origin)",
          description:
            '`Authorization: Bearer <publishable key>` and `Tessera-Parent-Origin: <the page embedding the frame>`. Creates a temporary token, or a permanent one after the validation hold (`tokenization: true`), with the rules of `POST /api/tokens`. Never reads, lists or deletes anything.',
          security: [{ publishableKey: [] }],
          body: ElementsTokenBody,
          response: { 201: ElementsTokenCreated, 400: ErrorBody, 401: ErrorBody, 402: ErrorBody, 403: ErrorBody, 429: ErrorBody },
        },
        onRequest: async (request) => {
          const status = await limiter(request);
          if (!status.isAllowed && status.isExceeded) {
            throw new TesseraError('rate_limited', 'Too many card tokenizations: retry later.', undefined, Math.max(1, status.ttlInSeconds));
          }
        },
        preValidation: async (request) => {
          const key = publishableKeyOf(request);
          const parent = request.headers['tessera-parent-origin'];
          if (!key) throw new TesseraError('unauthorized', 'Missing or invalid publishable key.');
          // Only Tessera's frame (a same-origin request) may call, for the page that embeds it; a
          // page calling with the key directly would handle card numbers itself: refused, like an
          // origin the merchant did not allow.
          const parentOrigin = fromSelf(request, publicUrl) && typeof parent === 'string' ? parent : undefined;
          request.merchantId = await elements.authenticate(key, parentOrigin);
        },
      },
      async (request, reply) => {
        const { number, ...rest } = request.body;
        const outcome = await tokens.create(request.merchantId, { number, ...rest, source: 'hosted_fields' });
        if (!outcome.ok) throw new TesseraError(outcome.decline, declineMessage(outcome.decline));
        return reply.code(201).send({ token: outcome.token, brand: brandOf(number).brand, last4: number.slice(-4) });
      },
    );
  };

function publishableKeyOf(request: FastifyRequest): string {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return '';
  const m = /^Bearer\s+(pk_\S{1,80})$/.exec(header.trim());
  return m ? m[1]! : '';
}
