import { html } from './html.ts';
import { badge, dateTime, empty, pager, select } from './layout.ts';
import type { DashboardService } from '../../services/dashboard.ts';

type Batches = Awaited<ReturnType<DashboardService['batches']>>;

/** The live-progress document the dashboard script polls (`/dashboard/batches.json`). Counts only. */
export function batchProgress(b: Batches) {
  return {
    batches: [
      ...b.cof.map((x) => ({ key: `cof:${x.id}`, status: x.status, done: x.succeeded + x.failed, total: x.total_records, failed: x.failed })),
      ...b.files.map((x) => ({ key: `file:${x.issuer_id}:${x.batch_id}:${x.seq_number}`, status: x.status, done: x.processed_records, total: x.total_records, failed: x.ko_records })),
    ],
  };
}

function bar(key: string, done: number, total: number, failed: number, status: string) {
  const pct = total > 0 ? Math.floor((done / total) * 100) : 0;
  return html`<div class="progress" data-progress="${key}" data-status="${status}">
  <progress max="${total}" value="${done}">${pct}%</progress>
  <span class="small"><span data-field="done">${done.toLocaleString('en-US')}</span> / ${total.toLocaleString('en-US')} · <span data-field="pct">${pct}</span>% · <span data-field="failed">${failed.toLocaleString('en-US')}</span> failed</span>
</div>`;
}

export function batchesPage(b: Batches) {
  return html`<h1>Batches</h1>
<p class="muted">Progress refreshes by itself while a batch runs.</p>
<section class="card"><h2>Card-on-file batches <span class="muted small">/cof/v1/batches</span></h2>
${b.cof.length === 0 ? empty('batches') : html`<table>
<thead><tr><th>Batch</th><th>Merchant</th><th>Status</th><th class="wide">Progress</th><th class="num">Succeeded</th><th>Started</th><th>Completed</th></tr></thead>
<tbody>${b.cof.map((x) => html`<tr>
  <td><span class="strong">${x.batch_id}</span><br><span class="muted small">${x.chunks} chunk${x.chunks === 1 ? '' : 's'}</span></td><td>${x.merchant_name}</td>
  <td data-status-of="${'cof:' + x.id}">${badge(x.status)}</td><td>${bar(`cof:${x.id}`, x.succeeded + x.failed, x.total_records, x.failed, x.status)}</td>
  <td class="num">${x.succeeded.toLocaleString('en-US')}</td><td>${dateTime(x.started_at)}</td><td>${dateTime(x.completed_at)}</td>
</tr>`)}</tbody></table>`}</section>
<section class="card"><h2>Issuer batch files <span class="muted small">/banking/v1 · drop folder</span></h2>
${b.files.length === 0 ? empty('batch files') : html`<table>
<thead><tr><th>Batch file</th><th>Issuer</th><th>Operation</th><th>Status</th><th class="wide">Progress</th><th>Received</th><th>Completed</th></tr></thead>
<tbody>${b.files.map((x) => {
  const key = `file:${x.issuer_id}:${x.batch_id}:${x.seq_number}`;
  return html`<tr>
  <td><span class="strong">${x.batch_id}</span> <span class="muted">#${x.seq_number}</span></td><td>${x.issuer_name}</td>
  <td>${x.operation}${x.auto_enrolment ? html`<br><span class="muted small">+ Click to Pay</span>` : ''}</td>
  <td data-status-of="${key}">${badge(x.status)}</td><td>${bar(key, x.processed_records, x.total_records, x.ko_records, x.status)}</td>
  <td>${dateTime(x.created_at)}</td><td>${dateTime(x.completed_at)}</td>
</tr>`;
})}</tbody></table>`}</section>`;
}

export const OPERATION_STATUSES = ['PENDING', 'SUCCESSFUL', 'FAILED'] as const;

export function operationsPage(
  p: Awaited<ReturnType<DashboardService['operations']>>,
  f: { issuer?: string | undefined; status?: string | undefined; before?: string | undefined },
  issuers: { id: string; name: string }[],
) {
  return html`<h1>Click to Pay operations</h1>
<form class="filters" method="get" action="/dashboard/click-to-pay">
  ${select('issuer', 'Issuer', [['', 'All issuers'], ...issuers.map((i) => [i.id, i.name] as const)], f.issuer)}
  ${select('status', 'Status', [['', 'Any status'], ...OPERATION_STATUSES.map((x) => [x, x] as const)], f.status)}
  <button type="submit">Filter</button>
</form>
<section class="card">${p.rows.length === 0 ? empty('operations') : html`<table>
<thead><tr><th>Operation</th><th>Issuer</th><th>Card</th><th>Status</th><th>Error</th><th>Started</th><th>Ended</th></tr></thead>
<tbody>${p.rows.map((o) => html`<tr>
  <td><span class="strong">${o.operation}</span><br><code class="small">${o.id}</code></td><td>${o.issuer_name}</td>
  <td>${o.last4 ? html`<span class="cardmask">${(o.network ?? '').toLowerCase()} •••• ${o.last4}</span>` : ''}<br><span class="muted small">card ${o.card_id}</span></td>
  <td>${badge(o.status)}</td><td>${o.error_code ?? html`<span class="muted">—</span>`}</td><td>${dateTime(o.start_time)}</td><td>${dateTime(o.end_time)}</td>
</tr>`)}</tbody></table>`}
${pager('/dashboard/click-to-pay', { issuer: f.issuer, status: f.status }, p.next, !f.before)}</section>`;
}
