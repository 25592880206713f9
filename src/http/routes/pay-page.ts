import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { TesseraError } from '../../domain/errors.ts';
import type { Deps } from '../../deps.ts';
import type { OrderView } from '../../services/order-views.ts';
import { fromSelf, pageCsp, sendPage } from '../elements-assets.ts';
import { escapeHtml, jsonForHtml, localeOf, PAY_STRINGS, type Locale } from '../elements-i18n.ts';
import { merchantEnvelope } from '../errors.ts';
import { ErrorBody } from '../schemas/merchant.ts';
import { PayBody, PayParams, PayResult } from '../schemas/elements.ts';
import { declineMessage } from './merchant-vault.ts';

function money(amount: number, currency: string, locale: Locale): string {
  // "$301.00 MXN": the symbol alone is ambiguous across the dollar currencies.
  return `${new Intl.NumberFormat(locale === 'es' ? 'es-MX' : 'en-US', { style: 'currency', currency, currencyDisplay: 'narrowSymbol' }).format(amount)} ${currency}`;
}

/** The page: the order's lines and total, then the card frame and a plan choice (unpaid) or the order's state. */
function payPage(order: OrderView, merchant: string, locale: Locale): string {
  const t = PAY_STRINGS[locale];
  const total = money(order.totals.total, order.currency, locale);
  const lines = order.items
    .map((i) => `<tr><td>${escapeHtml(i.name)}</td><td class="qty">${i.quantity}</td><td class="amount">${escapeHtml(money(i.total, order.currency, locale))}</td></tr>`)
    .join('');
  const other = locale === 'es' ? 'en' : 'es';
  let action: string;
  if (order.status === 'created' && order.payment?.status === 'pending') {
    action = `<p class="notice">${escapeHtml(t.pending)}</p>`;
  } else if (order.status === 'created') {
    const plans = order.installment_options;
    const planPicker = plans
      ? `<div class="plan"><label for="plan">${escapeHtml(t.plan)}</label><select id="plan"><option value="">${escapeHtml(t.single)} · ${escapeHtml(total)}</option>${plans.installments
          .map((n) => `<option value="${n}">${escapeHtml((plans.fixed_installments ? t.months_fixed : t.months).replace('{n}', String(n)))} · ${escapeHtml(money(Math.ceil((order.totals.total * 100) / n) / 100, order.currency, locale))}</option>`)
          .join('')}</select></div>`
      : '';
    action = `${planPicker}<div id="card" class="card-mount"></div>
<button id="pay-button" type="button" disabled>${escapeHtml(t.pay)} ${escapeHtml(total)}</button>
<p class="pay-error" id="pay-error" role="alert"></p>
<p class="secure">${escapeHtml(t.secured)}</p>`;
  } else {
    const text = order.status === 'paid' ? t.paid_text.replace('{number}', order.number) : order.status === 'refunded' ? t.refunded : t.partially_refunded;
    action = `<div class="result ${escapeHtml(order.status)}" id="result"><h2>${escapeHtml(order.status === 'refunded' ? t.refunded_title : t.paid)}</h2><p>${escapeHtml(text)}</p></div>`;
  }
  const config = { order: order.id, locale, strings: t, paidText: t.paid_text.replace('{number}', order.number) };
  return `<!doctype html>
<html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${escapeHtml(t.title)} · ${escapeHtml(merchant)}</title><link rel="stylesheet" href="/elements/v1/pay.css"></head>
<body><main class="pay">
<header><div class="merchant">${escapeHtml(merchant)}</div><a class="lang" href="?lang=${other}" lang="${other}">${other === 'es' ? 'Español' : 'English'}</a></header>
<section class="summary" aria-labelledby="order-title">
<h1 id="order-title">${escapeHtml(t.order)} <span class="number">#${escapeHtml(order.number)}</span></h1>
<table><thead><tr><th scope="col"></th><th scope="col" class="qty">${escapeHtml(t.qty)}</th><th scope="col" class="amount"></th></tr></thead><tbody>${lines}</tbody>
<tfoot><tr><th scope="row" colspan="2">${escapeHtml(t.total)}</th><td class="amount total" id="total">${escapeHtml(total)}</td></tr></tfoot></table>
</section>
<section class="payment" id="payment">${action}</section>
</main>
<script type="application/json" id="pay-config">${jsonForHtml(config)}</script>
<script src="/elements/v1/tessera.js"></script>
<script src="/elements/v1/pay.js"></script>
</body></html>`;
}

/**
 * The hosted payment page behind an order's `pay_link`: no login, the order id is the link's
 * secret. It embeds the same card frame as merchants' pages; the frame posts the card to
 * `POST /pay/:id/payments` (same origin only), which tokenizes it and pays the order.
 */
export const payPageRoutes = (deps: Deps): FastifyPluginAsync =>
  async (root) => {
    const app = root.withTypeProvider<TypeBoxTypeProvider>();
    const { orders, tokens, elements } = deps.services;

    app.get('/pay/:id', { schema: { hide: true, params: PayParams } }, async (request, reply) => {
      const locale = localeOf((request.query as { lang?: unknown }).lang, request.headers['accept-language']);
      const found = await orders.forPayPage(request.params.id);
      if (!found) {
        const t = PAY_STRINGS[locale];
        const html = `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>${escapeHtml(t.title)}</title><link rel="stylesheet" href="/elements/v1/pay.css"></head><body><main class="pay"><section class="payment"><div class="result missing"><h2>${escapeHtml(t.not_found)}</h2></div></section></main></body></html>`;
        return sendPage(reply, 404, html, pageCsp("'none'"));
      }
      const merchant = await elements.displayName(found.merchantId);
      return sendPage(reply, 200, payPage(found.order, merchant, locale), pageCsp("'none'", "'self'"));
    });

    const limiter = app.createRateLimit({
      max: deps.config.elementsRateMax,
      timeWindow: deps.config.elementsRateWindowMs,
      keyGenerator: (r: FastifyRequest) => `pay|${r.ip}|${String((r.params as { id?: string }).id ?? '').slice(0, 64)}`,
    });

    app.post(
      '/pay/:id/payments',
      {
        schema: {
          tags: ['hosted fields'],
          summary: "The hosted payment page's card frame pays the order (same origin only)",
          params: PayParams,
          body: PayBody,
          response: { 200: PayResult, 400: ErrorBody, 402: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 429: ErrorBody },
        },
        onRequest: async (request) => {
          const status = await limiter(request);
          if (!status.isAllowed && status.isExceeded) throw new TesseraError('rate_limited', 'Too many payment attempts: retry later.', undefined, Math.max(1, status.ttlInSeconds));
          if (!fromSelf(request, deps.config.publicUrl)) throw new TesseraError('origin_not_allowed', "Only Tessera's payment page can pay an order.", 'origin');
        },
      },
      async (request, reply) => {
        const found = await orders.forPayPage(request.params.id);
        if (!found) throw new TesseraError('order_not_found', 'No such order.', 'id');
        const { merchantId, order } = found;
        if (order.status !== 'created') throw new TesseraError('order_not_payable', `The order is ${order.status}.`, 'id');
        const { installments, ...card } = request.body;
        const plan = order.installment_options;
        if (installments !== undefined && (!plan || !plan.installments.includes(installments))) {
          throw new TesseraError('invalid_installments', 'installments must be one of the plans the order offers.', 'installments');
        }
        const token = await tokens.create(merchantId, {
          ...card,
          ...(installments !== undefined ? { installments, fixed_installments: plan?.fixed_installments ?? false } : {}),
          source: 'hosted_payment_page',
        });
        if (!token.ok) throw new TesseraError(token.decline, declineMessage(token.decline));
        const outcome = await orders.pay(merchantId, order.id, token.token);
        if (!outcome.ok) {
          const e = new TesseraError(outcome.decline, declineMessage(outcome.decline));
          return reply.code(402).send(merchantEnvelope(e, request.id) as never);
        }
        return { status: outcome.order.status, number: outcome.order.number, redirect_url: outcome.order.redirect_url };
      },
    );
  };
