import { html, type Html } from './html.ts';
import type { IssuerSecond } from '../../sandbox/issuer-timeline.ts';

export interface ChartInput {
  title: string;
  /** The last second shown (epoch seconds). */
  end: number;
  /** Seconds shown, ending at `end`. */
  window: number;
  seconds: IssuerSecond[];
  /** A horizontal line at the issuer's rate cap (0: none). */
  cap: number;
}

const W = 720;
const H = 200;
const PAD = { left: 44, right: 12, top: 14, bottom: 26 };

/** A "nice" axis maximum: 1, 2 or 5 × 10^n at or above `v`. */
function niceMax(v: number): number {
  if (v <= 1) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * Requests per second as stacked bars (accepted below, throttled above), server-rendered as
 * inline SVG: no script, no chart library, nothing for the CSP to allow.
 */
export function requestsChart(c: ChartInput): Html {
  const bySecond = new Map(c.seconds.map((s) => [s.second, s]));
  const start = c.end - c.window + 1;
  const peak = Math.max(c.cap, ...c.seconds.map((s) => s.accepted + s.throttled), 1);
  const max = niceMax(peak);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const bw = plotW / c.window;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const bars: Html[] = [];
  for (let i = 0; i < c.window; i++) {
    const s = bySecond.get(start + i);
    if (!s) continue;
    const x = (PAD.left + i * bw).toFixed(1);
    const w = Math.max(1, bw - 1).toFixed(1);
    const ya = y(s.accepted);
    const yt = y(s.accepted + s.throttled);
    bars.push(html`<rect class="ok" x="${x}" y="${ya.toFixed(1)}" width="${w}" height="${(PAD.top + plotH - ya).toFixed(1)}"><title>${new Date((start + i) * 1000).toISOString().slice(11, 19)}: ${s.accepted} accepted, ${s.throttled} throttled</title></rect>`);
    if (s.throttled > 0) bars.push(html`<rect class="throttled" x="${x}" y="${yt.toFixed(1)}" width="${w}" height="${(ya - yt).toFixed(1)}"></rect>`);
  }
  const ticks = [0, max / 2, max].map((v) => html`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"></line><text class="axis" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  const times = (
    [
      [0, 'start'],
      [Math.floor(c.window / 2), 'middle'],
      [c.window - 1, 'end'],
    ] as const
  ).map(([i, anchor]) => html`<text class="axis" x="${(anchor === 'start' ? PAD.left : anchor === 'end' ? W - PAD.right : PAD.left + i * bw + bw / 2).toFixed(1)}" y="${H - 8}" text-anchor="${anchor}">${new Date((start + i) * 1000).toISOString().slice(11, 19)}</text>`);
  const cap = c.cap > 0 ? html`<line class="cap" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(c.cap).toFixed(1)}" y2="${y(c.cap).toFixed(1)}"></line><text class="axis cap-label" x="${W - PAD.right}" y="${(y(c.cap) - 4).toFixed(1)}" text-anchor="end">cap ${c.cap}/s</text>` : '';
  const total = c.seconds.reduce((a, s) => ({ accepted: a.accepted + s.accepted, throttled: a.throttled + s.throttled }), { accepted: 0, throttled: 0 });
  return html`<figure class="chart">
<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${c.title}: ${total.accepted} accepted and ${total.throttled} throttled requests in the last ${c.window} seconds" preserveAspectRatio="xMidYMid meet">
<title>${c.title}</title>
${ticks}${cap}${bars}${times}
</svg>
<figcaption><span class="key ok"></span> accepted <span class="key throttled"></span> throttled (429) ${c.cap > 0 ? html`<span class="key cap"></span> cap` : ''}</figcaption>
</figure>`;
}
