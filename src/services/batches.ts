import { randomUUID } from 'node:crypto';
import { assertNoPan } from '../domain/card.ts';
import type { Logger } from 'pino';
import { decodeCursor, encodeCursor, parseChunk, type ParsedRecord } from '../domain/batch.ts';
import { TesseraError } from '../domain/errors.ts';
import { isUniqueViolation, type Db } from '../storage/database.ts';
import { addPending, ensureIssuers, findIssuers } from '../storage/repos/batch-issuers.ts';
import {
  completeBatchIfDone,
  findBatch,
  findBatchById,
  insertBatch,
  insertRecords,
  listBatchBins,
  listResults,
  lockBatch,
  updateBatch,
  upsertBatchBin,
  type BatchRecordRow,
  type BatchRow,
} from '../storage/repos/batches.ts';
import type { ServiceKeyRing } from '../vault/jwe.ts';
import type { Vault } from '../vault/vault.ts';
import { iso, notifier } from './batch-notices.ts';
import { assertCaller } from './network-tokens.ts';
import type { NotificationService } from './notifications.ts';
import type { AuditService } from './audit.ts';

export interface BatchServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  keys: ServiceKeyRing;
  notifications: NotificationService;
  log: Logger;
  now: () => number;
  /** Wakes the worker after notifications were committed. */
  nudge: () => void;
  /** Wakes the batch scheduler after records were committed. */
  nudgeBatches: () => void;
}

/** The body of `POST /cof/v1/batches`. */
export interface BatchChunkInput {
  merchantId: string;
  batchId: string;
  last: boolean;
  encryptedData: string;
}

export type BatchStatus = 'RECEIVING' | 'PROCESSING' | 'COMPLETED';

export interface BatchView {
  batchId: string;
  status: BatchStatus;
  totalRecords: number;
  processed: number;
  succeeded: number;
  failed: number;
  startedAt: string;
  completedAt?: string;
  estimatedCompletion?: string;
}

export interface BatchResult {
  rowId: string;
  tokenId?: string;
  tokenStatus?: string;
  cardLastDigits?: string;
  errorCode?: string;
  message?: string;
}

/** The AAD of a waiting record's card: bound to its batch and rowId. */
export const recordAad = (batchPk: string, rowId: string) => `batch-record:${batchPk}:${rowId}`;

/** A waiting card, as sealed in `batch_records.card_ct`. */
export interface SealedCard {
  card: { pan: string; expMonth: string; expYear: string; name: string };
  network: string;
  cvv?: string | undefined;
  accountId?: string | undefined;
  email?: string | undefined;
}

export function batchView(b: BatchRow, now: number): BatchView {
  const processed = b.succeeded + b.failed;
  const view: BatchView = {
    batchId: b.batch_id,
    status: b.status as BatchStatus,
    totalRecords: b.total_records,
    processed,
    succeeded: b.succeeded,
    failed: b.failed,
    startedAt: iso(b.started_at),
  };
  if (b.completed_at !== null) view.completedAt = iso(b.completed_at);
  else if (processed > 0 && processed < b.total_records && now > b.started_at) {
    const perMs = processed / (now - b.started_at);
    view.estimatedCompletion = iso(now + Math.ceil((b.total_records - processed) / perMs));
  }
  return view;
}

export function createBatchService(deps: BatchServiceDeps) {
  const k = deps.db.kysely;

  async function find(merchantId: string, batchId: string): Promise<BatchRow> {
    const b = await findBatch(k, merchantId, batchId);
    if (!b) throw new TesseraError('batch_not_found', 'No such batch.', 'batchId');
    return b;
  }

  /** Seals each valid record's card under the merchant's data key, before any transaction opens. */
  async function seal(merchantId: string, batchPk: string, records: ParsedRecord[]): Promise<(string | null)[]> {
    const out: (string | null)[] = [];
    for (const r of records) {
      if (!r.ok) {
        out.push(null);
        continue;
      }
      const sealed: SealedCard = { card: r.card, network: r.network, cvv: r.cvv, accountId: r.accountId, email: r.email };
      out.push(await deps.vault.encrypt(merchantId, JSON.stringify(sealed), recordAad(batchPk, r.rowId)));
    }
    return out;
  }

  return {
    /**
     * `POST /cof/v1/batches`: decrypts and validates a chunk, then stores every record (cards
     * sealed) in one transaction before answering: all of the chunk or none of it.
     */
    async submit(merchantId: string, input: BatchChunkInput, correlationId: string): Promise<BatchView> {
      assertCaller(merchantId, input.merchantId);
      // The batchId is stored, audited and echoed: never a card number.
      assertNoPan(input.batchId, 'batchId');
      const now = deps.now();
      await deps.audit.record({ tenantId: merchantId, operation: 'batch.receive', reason: 'read a chunk of a bulk tokenization batch', subject: `batch:${input.batchId}` });
      const records = parseChunk(await deps.keys.decrypt(input.encryptedData), new Date(now));
      if (records.length === 0 && !input.last) {
        throw new TesseraError('invalid_encrypted_data', 'A chunk holds at least one record (only the last may be empty, to close the batch).', 'encryptedData.records');
      }
      const existing = await findBatch(k, merchantId, input.batchId);
      if (existing && existing.status !== 'RECEIVING') throw new TesseraError('batch_closed', 'The batch was closed by its last chunk: start a new batchId.', 'batchId');
      const batchPk = existing?.id ?? randomUUID();
      const sealed = await seal(merchantId, batchPk, records);

      const notices = notifier(deps.notifications);
      let view: BatchView | undefined;
      try {
        // Up to 10,000 records: a transaction of its own (see `Db.bulk`).
        await deps.db.bulk.transaction().execute(async (trx) => {
          if (!existing) {
            const inserted = await insertBatch(trx, {
              id: batchPk,
              merchant_id: merchantId,
              batch_id: input.batchId,
              correlation_id: correlationId,
              status: 'RECEIVING',
              chunks: 0,
              total_records: 0,
              succeeded: 0,
              failed: 0,
              started_at: now,
              closed_at: null,
              completed_at: null,
            });
            // A concurrent first chunk created it under another key: the client may simply resend.
            if (!inserted) throw new TesseraError('conflict', 'Another chunk of this batch is being stored: send this one again.', 'batchId');
          }
          const batch = await lockBatch(trx, deps.db.engine, batchPk);
          if (!batch) throw new Error('batch vanished');
          if (batch.status !== 'RECEIVING') throw new TesseraError('batch_closed', 'The batch was closed by its last chunk: start a new batchId.', 'batchId');

          // Start-time fair queuing: a batch's records for an issuer continue where it left off, but never behind the issuer's clock.
          const bins = [...new Set(records.flatMap((r) => (r.ok ? [r.card.pan.slice(0, 6)] : [])))];
          await ensureIssuers(trx, bins, now);
          const clocks = new Map((await findIssuers(trx, bins)).map((i) => [i.bin, i.vclock]));
          const next = new Map((await listBatchBins(trx, batchPk)).map((b) => [b.bin, b.next_vtime]));
          for (const bin of bins) next.set(bin, Math.max(next.get(bin) ?? 0, clocks.get(bin) ?? 0));
          const perBin = new Map<string, number>();
          const rows: BatchRecordRow[] = records.map((r, i) => {
            const seq = batch.total_records + i;
            const bin = r.ok ? r.card.pan.slice(0, 6) : '';
            let vtime = 0;
            if (r.ok) {
              vtime = next.get(bin)!;
              next.set(bin, vtime + 1);
              perBin.set(bin, (perBin.get(bin) ?? 0) + 1);
            }
            return {
              id: `${batchPk}.${seq}`,
              batch_pk: batchPk,
              seq,
              merchant_id: merchantId,
              row_id: r.rowId,
              bin,
              vtime,
              status: r.ok ? 'PENDING' : 'FAILED',
              card_ct: sealed[i] ?? null,
              attempts: 0,
              not_before: 0,
              lease_until: null,
              claimed_by: null,
              token_id: null,
              token_status: null,
              card_last4: r.ok ? r.card.pan.slice(-4) : null,
              error_code: r.ok ? null : r.code,
              message: r.ok ? null : r.message,
              done_at: r.ok ? null : now,
            };
          });
          await insertRecords(trx, deps.db.engine, rows);
          for (const bin of bins) await upsertBatchBin(trx, { batch_pk: batchPk, bin, next_vtime: next.get(bin)! });

          const refused = records.filter((r) => !r.ok).length;
          const updated: BatchRow = {
            ...batch,
            chunks: batch.chunks + 1,
            total_records: batch.total_records + records.length,
            failed: batch.failed + refused,
            status: input.last ? 'PROCESSING' : 'RECEIVING',
            closed_at: input.last ? now : null,
          };
          await updateBatch(trx, batchPk, { chunks: updated.chunks, total_records: updated.total_records, failed: updated.failed, status: updated.status, closed_at: updated.closed_at });
          for (const r of records) if (!r.ok) await notices.record(trx, updated, { rowId: r.rowId, ok: false, body: { errorCode: r.code, message: r.message } });
          if (input.last && (await completeBatchIfDone(trx, batchPk, now))) {
            updated.status = 'COMPLETED';
            updated.completed_at = now;
            await notices.completed(trx, updated, now);
          }
          // Last: the issuers' rows are hot (every process paces on them), so hold their locks only briefly.
          for (const [bin, n] of perBin) await addPending(trx, bin, n);
          view = batchView(updated, now);
        });
      } catch (err) {
        if (isUniqueViolation(err)) throw new TesseraError('duplicate_row_id', 'A rowId of this chunk was already sent in an earlier chunk of the batch.', 'encryptedData.records');
        throw err;
      }
      if (notices.queued > 0) deps.nudge();
      deps.nudgeBatches();
      deps.log.info({ merchant: merchantId, batch: batchPk, records: records.length, last: input.last }, 'batch chunk stored');
      return view!;
    },

    async get(merchantId: string, batchId: string): Promise<BatchView> {
      return batchView(await find(merchantId, batchId), deps.now());
    },

    /**
     * Results in batch order, `limit` at a time. A page stops before the first record still being
     * processed, so a client following `nextCursor` sees every record exactly once; `nextCursor`
     * is null only once the batch is completed and read to the end.
     */
    async results(merchantId: string, batchId: string, limit: number, cursor: string | undefined): Promise<{ results: BatchResult[]; nextCursor: string | null }> {
      const b = await find(merchantId, batchId);
      const after = decodeCursor(cursor);
      const rows = await listResults(k, b.id, after, limit);
      const done = rows.findIndex((r) => r.status !== 'SUCCEEDED' && r.status !== 'FAILED');
      const page = done === -1 ? rows : rows.slice(0, done);
      const results = page.map((r): BatchResult => {
        const out: BatchResult = { rowId: r.row_id };
        if (r.token_id) out.tokenId = r.token_id;
        if (r.token_status) out.tokenStatus = r.token_status;
        if (r.card_last4) out.cardLastDigits = r.card_last4;
        if (r.error_code) out.errorCode = r.error_code;
        if (r.message) out.message = r.message;
        return out;
      });
      const last = page.at(-1)?.seq ?? after;
      const end = b.status === 'COMPLETED' && page.length === rows.length && rows.length < limit;
      return { results, nextCursor: end ? null : encodeCursor(last) };
    },

    findById: (id: string) => findBatchById(k, id),
  };
}

export type BatchService = ReturnType<typeof createBatchService>;
