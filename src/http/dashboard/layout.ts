import { html, query, type Html } from './html.ts';
import type { OperatorSession } from '../../services/operators.ts';
import type { Cursor } from '../../services/dashboard.ts';

/** The sections of the dashboard, in navigation order. */
export const NAV = [
  ['overview', '/dashboard', 'Overview'],
  ['merchants', '/dashboard/merchants', 'Merchants'],
  ['issuers', '/dashboard/issuers', 'Issuers'],
  ['tokens', '/dashboard/tokens', 'Tokens'],
  ['orders', '/dashboard/orders', 'Orders'],
  ['deliveries', '/dashboard/deliveries', 'Deliveries'],
  ['batches', '/dashboard/batches', 'Batches'],
  ['operations', '/dashboard/click-to-pay', 'Click to Pay'],
  ['sandbox', '/dashboard/sandbox', 'Sandbox'],
] as const;

export type Section = (typeof NAV)[number][0];

export interface PageInput {
  title: string;
  active?: Section;
  session?: OperatorSession | undefined;
  body: Html;
  /** A notice at the top (e.g. "Delivery queued"). */
  flash?: string | undefined;
}

export function layout(p: PageInput): string {
  const s = p.session;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${p.title} · Tessera</title>
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
<script src="/dashboard/assets/dashboard.js" defer></script>
</head>
<body class="${s ? 'app' : 'bare'}">
${s
  ? html`<header class="top">
  <a class="brand" href="/dashboard"><span class="logo" aria-hidden="true">◆</span> Tessera <span class="muted">operator</span></a>
  <div class="who"><span class="email">${s.email}</span>
    <form method="post" action="/dashboard/logout">${csrfField(s)}<button class="link" type="submit">Sign out</button></form>
  </div>
</header>
<nav class="side" aria-label="Sections">${NAV.map(([key, href, label]) => html`<a href="${href}"${key === p.active ? html` aria-current="page"` : ''}>${label}</a>`)}</nav>`
  : ''}
<main id="main">
${p.flash ? html`<p class="flash" role="status">${p.flash}</p>` : ''}
${p.body}
</main>
</body>
</html>`.value;
}

export function csrfField(s: OperatorSession): Html {
  return html`<input type="hidden" name="_csrf" value="${s.csrf}">`;
}

export function dateTime(ms: number | null | undefined): Html {
  if (ms === null || ms === undefined) return html`<span class="muted">—</span>`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 19).replace('T', ' ')}</time>`;
}

const TONES: Record<string, string> = {
  active: 'ok', ACTIVE: 'ok', delivered: 'ok', paid: 'ok', SUCCESSFUL: 'ok', COMPLETED: 'ok', released: 'ok', captured: 'ok',
  pending: 'warn', PENDING: 'warn', PROCESSING: 'warn', RECEIVING: 'warn', held: 'warn', SUSPENDED: 'warn', created: 'warn', partially_refunded: 'warn',
  dead: 'bad', failed: 'bad', FAILED: 'bad', DELETED: 'bad', deleted: 'bad', expired: 'bad', declined: 'bad', refunded: 'muted', used: 'muted',
};

export function badge(status: string | null | undefined): Html {
  if (!status) return html`<span class="muted">—</span>`;
  return html`<span class="badge ${TONES[status] ?? 'muted'}">${status}</span>`;
}

export function money(minor: number, currency: string): string {
  return `${(minor / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
}

export function cursorParam(c: Cursor): string {
  return `${c.at}~${c.id}`;
}

/** "Newer" goes back to the first page; "Older" follows the keyset cursor. */
export function pager(base: string, params: Record<string, string | undefined>, next: Cursor | undefined, isFirst: boolean): Html {
  return html`<nav class="pager" aria-label="Pages">
  ${isFirst ? html`<span class="muted">Newest</span>` : html`<a href="${base + query({ ...params, before: undefined })}">« Newest</a>`}
  ${next ? html`<a rel="next" href="${base + query({ ...params, before: cursorParam(next) })}">Older »</a>` : html`<span class="muted">End</span>`}
</nav>`;
}

export function select(name: string, label: string, options: readonly (readonly [string, string])[], current: string | undefined): Html {
  return html`<label>${label}
  <select name="${name}">${options.map(([v, l]) => html`<option value="${v}"${v === (current ?? '') ? html` selected` : ''}>${l}</option>`)}</select></label>`;
}

export function empty(what: string): Html {
  return html`<p class="empty">No ${what} yet.</p>`;
}
