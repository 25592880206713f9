import { html, query } from './html.ts';
import { badge, dateTime, empty, money, pager, select } from './layout.ts';
import type { DashboardService } from '../../services/dashboard.ts';

type Svc = DashboardService;

export function overviewPage(o: Awaited<ReturnType<Svc['overview']>>) {
  const c = o.counts;
  const tile = (label: string, value: number, href: string, tone = '') => html`<a class="tile ${tone}" href="${href}"><span class="value">${value.toLocaleString('en-US')}</span><span class="label">${label}</span></a>`;
  const jobs = Object.entries(o.jobs).sort(([a], [b]) => a.localeCompare(b));
  return html`<h1>Overview</h1>
<section class="tiles">
  ${tile('Merchants', c.merchants ?? 0, '/dashboard/merchants')}
  ${tile('Issuers', c.issuers ?? 0, '/dashboard/issuers')}
  ${tile('Live vault tokens', c.liveTokens ?? 0, '/dashboard/tokens')}
  ${tile('Network tokens', c.networkTokens ?? 0, '/dashboard/tokens?kind=network')}
  ${tile('Orders', c.orders ?? 0, '/dashboard/orders')}
  ${tile('Dead deliveries', c.deadDeliveries ?? 0, '/dashboard/deliveries?status=dead', (c.deadDeliveries ?? 0) > 0 ? 'bad' : '')}
  ${tile('Pending deliveries', c.pendingDeliveries ?? 0, '/dashboard/deliveries?status=pending')}
  ${tile('Batches running', (c.runningBatches ?? 0) + (c.runningFiles ?? 0), '/dashboard/batches', (c.runningBatches ?? 0) + (c.runningFiles ?? 0) > 0 ? 'warn' : '')}
  ${tile('Click to Pay pending', c.pendingOps ?? 0, '/dashboard/click-to-pay?status=PENDING')}
</section>
<section class="card">
  <h2>Job queue</h2>
  ${jobs.length === 0 ? empty('jobs') : html`<table><thead><tr><th>Status</th><th class="num">Jobs</th></tr></thead><tbody>${jobs.map(([s, n]) => html`<tr><td>${badge(s)}</td><td class="num">${n}</td></tr>`)}</tbody></table>`}
</section>`;
}

export function merchantsPage(rows: Awaited<ReturnType<Svc['merchants']>>) {
  return html`<h1>Merchants</h1>
<section class="card">${rows.length === 0 ? empty('merchants') : html`<table>
<thead><tr><th>Name</th><th>Id</th><th>Status</th><th>Notification URL</th><th>Created</th><th></th></tr></thead>
<tbody>${rows.map((m) => html`<tr>
  <td class="strong">${m.name}</td><td><code>${m.id}</code></td><td>${badge(m.status)}</td>
  <td class="url">${m.notification_url ?? html`<span class="muted">—</span>`}</td><td>${dateTime(m.created_at)}</td>
  <td class="actions"><a href="${'/dashboard/tokens' + query({ merchant: m.id })}">Tokens</a> <a href="${'/dashboard/orders' + query({ merchant: m.id })}">Orders</a> <a href="${'/dashboard/deliveries' + query({ tenant: m.id })}">Deliveries</a></td>
</tr>`)}</tbody></table>`}</section>`;
}

export function issuersPage(rows: Awaited<ReturnType<Svc['issuers']>>) {
  return html`<h1>Issuers</h1>
<section class="card">${rows.length === 0 ? empty('issuers') : html`<table>
<thead><tr><th>Name</th><th>Issuer id</th><th>Status</th><th>Notify URL</th><th class="num">Batch records/s</th><th>Created</th><th></th></tr></thead>
<tbody>${rows.map((i) => html`<tr>
  <td class="strong">${i.name}</td><td><code>${i.id}</code></td><td>${badge(i.status)}</td>
  <td class="url">${i.notify_url ?? html`<span class="muted">—</span>`}</td><td class="num">${i.records_per_second}</td><td>${dateTime(i.created_at)}</td>
  <td class="actions"><a href="${'/dashboard/click-to-pay' + query({ issuer: i.id })}">Click to Pay</a> <a href="${'/dashboard/deliveries' + query({ tenant: `issuer:${i.id}` })}">Notifications</a></td>
</tr>`)}</tbody></table>`}</section>`;
}

export const ORDER_STATUSES = ['created', 'paid', 'refunded', 'partially_refunded'] as const;

export function ordersPage(
  p: Awaited<ReturnType<Svc['orders']>>,
  f: { merchant?: string | undefined; status?: string | undefined; before?: string | undefined },
  merchants: { id: string; name: string }[],
) {
  return html`<h1>Orders</h1>
<form class="filters" method="get" action="/dashboard/orders">
  ${select('merchant', 'Merchant', [['', 'All merchants'], ...merchants.map((m) => [m.id, m.name] as const)], f.merchant)}
  ${select('status', 'Status', [['', 'Any status'], ...ORDER_STATUSES.map((s) => [s, s] as const)], f.status)}
  <button type="submit">Filter</button>
</form>
<section class="card">${p.rows.length === 0 ? empty('orders') : html`<table>
<thead><tr><th>Order</th><th>Merchant</th><th>Status</th><th class="num">Total</th><th class="num">Refunded</th><th>Card</th><th>Payment</th><th>Created</th></tr></thead>
<tbody>${p.rows.map((o) => html`<tr>
  <td><span class="strong">#${o.number}</span><br><code class="small">${o.id}</code></td><td>${o.merchant_name}</td><td>${badge(o.status)}</td>
  <td class="num">${money(o.total, o.currency)}</td><td class="num">${o.refunded_amount > 0 ? money(o.refunded_amount, o.currency) : html`<span class="muted">—</span>`}</td>
  <td>${o.brand ? html`<span class="cardmask">${o.brand} •••• ${o.last4}</span>${o.installments ? html` <span class="muted">${o.installments}×</span>` : ''}` : html`<span class="muted">—</span>`}</td>
  <td>${badge(o.payment_status)}${o.decline_code ? html` <span class="muted">${o.decline_code}</span>` : ''}</td><td>${dateTime(o.created_at)}</td>
</tr>`)}</tbody></table>`}
${pager('/dashboard/orders', { merchant: f.merchant, status: f.status }, p.next, !f.before)}</section>`;
}
