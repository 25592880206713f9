import type { Executor } from '../storage/repos/executor.ts';
import type { BatchRow } from '../storage/repos/batches.ts';
import { findMerchant } from '../storage/repos/merchants.ts';
import type { NotificationService } from './notifications.ts';

/** The notifications of a batch: one per record (as for async tokens) and one when the batch completes. */
export interface RecordNotice {
  rowId: string;
  ok: boolean;
  /** Token metadata on success; `{errorCode, message}` on failure. */
  body: Record<string, unknown>;
}

/** ISO-8601 with milliseconds. */
export const iso = (ms: number) => new Date(ms).toISOString();

/** Per-process cache of notification URLs, read inside the caller's transaction. Short-lived: one per unit of work. */
export function notifier(notifications: NotificationService) {
  const urls = new Map<string, string | null>();
  let queued = 0;
  async function urlOf(trx: Executor, merchantId: string): Promise<string | null> {
    if (!urls.has(merchantId)) urls.set(merchantId, (await findMerchant(trx, merchantId))?.notification_url ?? null);
    return urls.get(merchantId) ?? null;
  }
  return {
    get queued() {
      return queued;
    },
    async record(trx: Executor, batch: BatchRow, n: RecordNotice): Promise<void> {
      const url = await urlOf(trx, batch.merchant_id);
      if (!url) return;
      await notifications.enqueue(trx, {
        merchantId: batch.merchant_id,
        url,
        eventType: n.ok ? 'token.created' : 'token.creation_failed',
        body: { merchantId: batch.merchant_id, batchId: batch.batch_id, rowId: n.rowId, ...n.body },
        headers: { 'x-correlation-id': batch.correlation_id },
      });
      queued++;
    },
    async completed(trx: Executor, batch: BatchRow, completedAt: number): Promise<void> {
      const url = await urlOf(trx, batch.merchant_id);
      if (!url) return;
      await notifications.enqueue(trx, {
        merchantId: batch.merchant_id,
        url,
        eventType: 'batch.completed',
        body: {
          merchantId: batch.merchant_id,
          batchId: batch.batch_id,
          status: 'COMPLETED',
          totalRecords: batch.total_records,
          succeeded: batch.succeeded,
          failed: batch.failed,
          startedAt: iso(batch.started_at),
          completedAt: iso(completedAt),
        },
        headers: { 'x-correlation-id': batch.correlation_id },
      });
      queued++;
    },
  };
}
