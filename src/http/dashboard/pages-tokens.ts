import { html, type Html } from './html.ts';
import { badge, csrfField, dateTime, empty, pager, select } from './layout.ts';
import type { DashboardService } from '../../services/dashboard.ts';
import type { OperatorSession } from '../../services/operators.ts';

export const VAULT_STATES = ['active', 'expired', 'deleted'] as const;
export const NETWORK_STATES = ['ACTIVE', 'SUSPENDED', 'DELETED'] as const;

export interface TokenFilters {
  kind: 'vault' | 'network';
  merchant?: string | undefined;
  state?: string | undefined;
  before?: string | undefined;
}

type VaultRow = Awaited<ReturnType<DashboardService['vaultTokens']>>['rows'][number];
type NetworkRow = Awaited<ReturnType<DashboardService['networkTokens']>>['rows'][number];

/** What a vault token is now: deleted, expired, used (a spent temporary token), pending (hold not settled) or active. */
function vaultState(t: VaultRow, now: number): string {
  if (t.deleted_at !== null) return 'deleted';
  if (t.expires_at !== null && t.expires_at <= now) return 'expired';
  if (t.used_at !== null) return 'used';
  if (t.validation_status === 'pending') return 'pending';
  return 'active';
}

function mask(brand: string, last4: string): Html {
  return html`<span class="cardmask"><span class="brandname">${brand}</span> •••• ${last4}</span>`;
}

function tabs(f: TokenFilters): Html {
  const merchant = f.merchant ? `&merchant=${encodeURIComponent(f.merchant)}` : '';
  return html`<nav class="tabs" aria-label="Token kind">
  <a href="${'/dashboard/tokens?kind=vault' + merchant}"${f.kind === 'vault' ? html` aria-current="page"` : ''}>Vault tokens</a>
  <a href="${'/dashboard/tokens?kind=network' + merchant}"${f.kind === 'network' ? html` aria-current="page"` : ''}>Network tokens</a>
</nav>`;
}

function filters(f: TokenFilters, merchants: { id: string; name: string }[]): Html {
  const states = f.kind === 'vault' ? VAULT_STATES : NETWORK_STATES;
  return html`<form class="filters" method="get" action="/dashboard/tokens">
  <input type="hidden" name="kind" value="${f.kind}">
  ${select('merchant', 'Merchant', [['', 'All merchants'], ...merchants.map((m) => [m.id, m.name] as const)], f.merchant)}
  ${select('state', 'State', [['', 'Any state'], ...states.map((s) => [s, s] as const)], f.state)}
  <button type="submit">Filter</button>
</form>`;
}

export function vaultTokensPage(p: Awaited<ReturnType<DashboardService['vaultTokens']>>, f: TokenFilters, merchants: { id: string; name: string }[], s: OperatorSession, now: number) {
  return html`<h1>Tokens</h1>${tabs(f)}${filters(f, merchants)}
<section class="card">${p.rows.length === 0 ? empty('tokens') : html`<table id="tokens">
<thead><tr><th>Card</th><th>Merchant</th><th>Type</th><th>State</th><th>Expiry</th><th>Validation</th><th>Created</th><th></th></tr></thead>
<tbody>${p.rows.map((t) => {
  const state = vaultState(t, now);
  return html`<tr data-merchant="${t.merchant_id}">
  <td>${mask(t.brand, t.last4)}${t.installments ? html` <span class="muted">${t.installments}×</span>` : ''}</td><td>${t.merchant_name}</td><td>${t.type}</td><td>${badge(state)}</td>
  <td>${t.exp_month}/${t.exp_year.slice(-2)}</td><td>${badge(t.validation_status)}</td><td>${dateTime(t.created_at)}</td>
  <td class="actions">${state === 'deleted' ? '' : html`<form method="post" action="/dashboard/tokens/vault/delete" data-confirm="Delete this token? Its card data is erased at once.">
    ${csrfField(s)}<input type="hidden" name="merchant" value="${t.merchant_id}"><input type="hidden" name="token" value="${t.token_hash}">
    <button class="danger small" type="submit">Delete</button></form>`}</td>
</tr>`;
})}</tbody></table>`}
${pager('/dashboard/tokens', { kind: 'vault', merchant: f.merchant, state: f.state }, p.next, !f.before)}</section>`;
}

export function networkTokensPage(p: Awaited<ReturnType<DashboardService['networkTokens']>>, f: TokenFilters, merchants: { id: string; name: string }[], s: OperatorSession) {
  const action = (t: NetworkRow, what: 'suspend' | 'resume' | 'delete', label: string, tone: string) => html`<form method="post" action="/dashboard/tokens/network/${what}"${what === 'delete' ? html` data-confirm="Delete this network token at the network?"` : ''}>
    ${csrfField(s)}<input type="hidden" name="merchant" value="${t.merchant_id}"><input type="hidden" name="token" value="${t.id}">
    <button class="${tone} small" type="submit">${label}</button></form>`;
  return html`<h1>Tokens</h1>${tabs(f)}${filters(f, merchants)}
<section class="card">${p.rows.length === 0 ? empty('network tokens') : html`<table id="tokens">
<thead><tr><th>Funding card</th><th>Network</th><th>Token</th><th>Merchant</th><th>State</th><th>Created</th><th></th></tr></thead>
<tbody>${p.rows.map((t) => html`<tr data-merchant="${t.merchant_id}">
  <td>${mask(t.network.toLowerCase(), t.card_last4)}</td><td>${t.network}</td><td><span class="cardmask">•••• ${t.token_last4}</span> <span class="muted">exp ${t.token_expiry}</span></td><td>${t.merchant_name}</td>
  <td>${badge(t.status)}</td><td>${dateTime(t.created_at)}</td>
  <td class="actions">${t.status === 'ACTIVE' ? action(t, 'suspend', 'Suspend', 'secondary') : ''}${t.status === 'SUSPENDED' ? action(t, 'resume', 'Resume', 'secondary') : ''}${t.status !== 'DELETED' ? action(t, 'delete', 'Delete', 'danger') : ''}</td>
</tr>`)}</tbody></table>`}
${pager('/dashboard/tokens', { kind: 'network', merchant: f.merchant, state: f.state }, p.next, !f.before)}</section>`;
}
