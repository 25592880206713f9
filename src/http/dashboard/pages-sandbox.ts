import { html } from './html.ts';
import { empty } from './layout.ts';
import { requestsChart } from './chart.ts';
import type { DashboardService } from '../../services/dashboard.ts';

/** Seconds of traffic the sandbox page charts. */
export const SANDBOX_WINDOW_S = 60;

/** Issuers charted at most (the busiest). */
const CHARTS = 4;

export function sandboxPage(d: Awaited<ReturnType<DashboardService['sandbox']>>, cap: number) {
  const bins = Object.entries(d.totals);
  // The busiest issuers of the window, those that were throttled first.
  const sum = (bin: string, k: 'accepted' | 'throttled') => (d.series.get(bin) ?? []).reduce((a, x) => a + x[k], 0);
  const charted = [...d.series.keys()]
    .sort((a, b) => sum(b, 'throttled') - sum(a, 'throttled') || sum(b, 'accepted') - sum(a, 'accepted') || a.localeCompare(b))
    .slice(0, CHARTS);
  return html`<h1>Sandbox issuers</h1>
<p class="muted">Traffic to each simulated issuer (BIN) through the sandbox TSP. ${cap > 0 ? html`Each issuer accepts <strong>${cap}</strong> requests per second (<code>TESSERA_SANDBOX_ISSUER_TPS</code>); more are answered 429.` : html`No rate cap is set (<code>TESSERA_SANDBOX_ISSUER_TPS=0</code>).`}</p>
<section class="card"><h2>Totals</h2>
${bins.length === 0 ? empty('sandbox traffic') : html`<table>
<thead><tr><th>Issuer BIN</th><th class="num">Requests</th><th class="num">Throttled</th><th class="num">Throttled %</th><th class="num">Busiest second</th></tr></thead>
<tbody>${bins.map(([bin, s]) => html`<tr><td><code>${bin}</code></td><td class="num">${s.requests.toLocaleString('en-US')}</td><td class="num">${s.throttled.toLocaleString('en-US')}</td>
<td class="num">${s.requests > 0 ? ((s.throttled / s.requests) * 100).toFixed(1) : '0.0'}%</td><td class="num">${s.maxPerSecond}/s</td></tr>`)}</tbody></table>`}
</section>
<section class="charts">${charted.length === 0 ? html`<section class="card"><h2>Requests per second</h2>${empty(`requests in the last ${SANDBOX_WINDOW_S} seconds`)}</section>` : charted.map((bin) => html`<section class="card"><h2>Issuer <code>${bin}</code> <span class="muted small">requests per second, last ${SANDBOX_WINDOW_S} s</span></h2>
${requestsChart({ title: `Issuer ${bin}`, end: d.now, window: SANDBOX_WINDOW_S, seconds: d.series.get(bin) ?? [], cap })}</section>`)}</section>`;
}
