import { html } from './html.ts';
import { badge, csrfField, dateTime, empty, pager, select } from './layout.ts';
import type { DashboardService } from '../../services/dashboard.ts';
import type { OperatorSession } from '../../services/operators.ts';

export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;

export interface DeliveryFilters {
  tenant?: string | undefined;
  status?: string | undefined;
  before?: string | undefined;
}

export function deliveriesPage(
  p: Awaited<ReturnType<DashboardService['deliveries']>>,
  f: DeliveryFilters,
  tenants: { id: string; name: string }[],
  s: OperatorSession,
) {
  const names = new Map(tenants.map((t) => [t.id, t.name]));
  return html`<h1>Webhook and notification deliveries</h1>
<form class="filters" method="get" action="/dashboard/deliveries">
  ${select('tenant', 'Tenant', [['', 'All tenants'], ...tenants.map((t) => [t.id, t.name] as const)], f.tenant)}
  ${select('status', 'Status', [['', 'Any status'], ...DELIVERY_STATUSES.map((x) => [x, x] as const)], f.status)}
  <button type="submit">Filter</button>
</form>
<section class="card">${p.rows.length === 0 ? empty('deliveries') : html`<table id="deliveries">
<thead><tr><th>Event</th><th>Tenant</th><th>Endpoint</th><th>Status</th><th>Attempts</th><th>Created</th><th></th></tr></thead>
<tbody>${p.rows.map((d) => html`<tr id="${'delivery-' + d.id}" data-status="${d.status}">
  <td><span class="strong">${d.event_type}</span><br><code class="small">${d.id}</code>${d.webhook_id ? html`<br><span class="muted small">webhook ${d.webhook_id}</span>` : ''}</td>
  <td>${names.get(d.merchant_id) ?? d.merchant_id}</td>
  <td class="url">${d.url}</td>
  <td>${badge(d.status)}${d.status === 'pending' && d.next_attempt_at ? html`<br><span class="muted small">next ${dateTime(d.next_attempt_at)}</span>` : ''}</td>
  <td><ol class="attempts">${d.attempt_log.map((a) => html`<li class="${a.outcome}"><span class="code">${a.status_code ?? a.error ?? '—'}</span> <span class="muted">${a.outcome} · ${a.duration_ms} ms · ${dateTime(a.started_at)}</span></li>`)}</ol>
    ${d.attempt_log.length === 0 ? html`<span class="muted">not tried yet</span>` : ''}</td>
  <td>${dateTime(d.created_at)}</td>
  <td class="actions">${d.status === 'pending' ? '' : html`<form method="post" action="/dashboard/deliveries/retry">${csrfField(s)}<input type="hidden" name="delivery" value="${d.id}"><button class="${d.status === 'dead' ? 'primary' : 'secondary'} small" type="submit">${d.status === 'dead' ? 'Retry' : 'Resend'}</button></form>`}</td>
</tr>`)}</tbody></table>`}
${pager('/dashboard/deliveries', { tenant: f.tenant, status: f.status }, p.next, !f.before)}</section>`;
}
