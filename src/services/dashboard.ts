import { randomUUID } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import type { Db } from '../storage/database.ts';
import * as q from '../storage/repos/dashboard.ts';
import { deleteToken } from '../storage/repos/tokens.ts';
import { countJobs } from '../storage/repos/jobs.ts';
import type { IssuerTimeline } from '../sandbox/issuer-timeline.ts';
import type { IssuerMeter } from '../sandbox/issuer-meter.ts';
import type { NotificationService } from './notifications.ts';
import type { WebhookService } from './webhooks.ts';
import type { NetworkTokenService } from './network-tokens.ts';

export type { Cursor } from '../storage/repos/dashboard.ts';

export interface DashboardServiceDeps {
  db: Db;
  now: () => number;
  notifications: NotificationService;
  webhooks: WebhookService;
  networkTokens: NetworkTokenService;
  meter: IssuerMeter;
  timeline: IssuerTimeline;
}

/** Rows per dashboard page. */
export const PAGE_SIZE = 25;

/** A page of rows and the cursor of the next one (undefined: last page). */
export interface Page<T> {
  rows: T[];
  next: q.Cursor | undefined;
}

function page<T>(rows: T[], key: (row: T) => q.Cursor): Page<T> {
  const more = rows.length > PAGE_SIZE;
  const shown = more ? rows.slice(0, PAGE_SIZE) : rows;
  return { rows: shown, next: more ? key(shown.at(-1)!) : undefined };
}

/**
 * What the operator dashboard reads and does, across every tenant. Reads never touch card data
 * (only brand and last four digits); actions go through the services merchants use.
 */
export function createDashboardService(deps: DashboardServiceDeps) {
  const k = deps.db.kysely;
  return {
    async overview() {
      const [counts, jobs] = await Promise.all([q.countRows(k), countJobs(k)]);
      return { counts, jobs };
    },
    merchants: () => q.listAllMerchants(k, 500),
    issuers: () => q.listAllIssuers(k, 500),

    async vaultTokens(f: { merchantId?: string | undefined; state?: string | undefined; cursor?: q.Cursor | undefined }) {
      const rows = await q.listVaultTokens(k, { ...f, now: deps.now(), limit: PAGE_SIZE + 1 });
      return page(rows, (r) => ({ at: r.created_at, id: r.token_hash }));
    },
    async networkTokens(f: { merchantId?: string | undefined; status?: string | undefined; cursor?: q.Cursor | undefined }) {
      return page(await q.listNetworkTokens(k, { ...f, limit: PAGE_SIZE + 1 }), (r) => ({ at: r.created_at, id: r.id }));
    },
    async orders(f: { merchantId?: string | undefined; status?: string | undefined; cursor?: q.Cursor | undefined }) {
      return page(await q.listAllOrders(k, { ...f, limit: PAGE_SIZE + 1 }), (r) => ({ at: r.created_at, id: r.id }));
    },
    async deliveries(f: { tenantId?: string | undefined; status?: string | undefined; cursor?: q.Cursor | undefined }) {
      const p = page(await q.listAllDeliveries(k, { ...f, limit: PAGE_SIZE + 1 }), (r) => ({ at: r.created_at, id: r.id }));
      const attempts = await q.listAttemptsOf(k, p.rows.map((r) => r.id));
      return { ...p, rows: p.rows.map((r) => ({ ...r, attempt_log: attempts.filter((a) => a.delivery_id === r.id) })) };
    },
    async batches() {
      const [cof, files] = await Promise.all([q.listCofBatches(k, 50), q.listIssuerBatchFiles(k, 50)]);
      return { cof, files };
    },
    async operations(f: { issuerId?: string | undefined; status?: string | undefined; cursor?: q.Cursor | undefined }) {
      return page(await q.listOperations(k, { ...f, limit: PAGE_SIZE + 1 }), (r) => ({ at: r.start_time, id: r.id }));
    },
    async sandbox(windowS: number) {
      const [totals, series] = await Promise.all([deps.meter.stats(), deps.timeline.since(windowS)]);
      return { totals, series, now: Math.floor(deps.now() / 1000) };
    },

    /** Sends a delivery again: through its merchant webhook when it has one, else the notification engine. */
    async retryDelivery(deliveryId: string): Promise<void> {
      const d = await q.findDeliveryLink(k, deliveryId);
      if (!d) throw new TesseraError('delivery_not_found', 'No such delivery.', 'delivery');
      if (d.webhook_id && (await deps.webhooks.list(d.merchant_id)).some((w) => w.id === d.webhook_id)) {
        await deps.webhooks.retry(d.merchant_id, d.webhook_id, d.id);
        return;
      }
      await deps.notifications.redeliver(d.id);
    },

    /** Deletes a vault token (its ciphertexts are erased at once), by the hash the dashboard knows it by. */
    async deleteVaultToken(merchantId: string, tokenHash: string): Promise<void> {
      if (!(await deleteToken(k, merchantId, tokenHash, deps.now()))) throw new TesseraError('token_not_found', 'No such token.', 'token');
    },

    /** Suspends, resumes or deletes a network token at the TSP, notified to the merchant as any change. */
    async changeNetworkToken(merchantId: string, tokenId: string, action: 'suspend' | 'resume' | 'delete'): Promise<void> {
      await deps.networkTokens.change(merchantId, tokenId, action, randomUUID());
    },
  };
}

export type DashboardService = ReturnType<typeof createDashboardService>;
