import { rename, writeFile, open as openFile } from 'node:fs/promises';
import { TesseraError, type ErrorCode } from '../domain/errors.ts';
import { issuerTenant, validateBatchRecord } from '../domain/issuer.ts';
import type { Db } from '../storage/database.ts';
import type { IssuerCardRow, IssuerConsumerRow, IssuerTokenRow } from '../storage/repos/issuer-cards.ts';
import {
  addBatchProgress,
  createC2pProfiles,
  findBatch,
  findCards,
  insertTokens,
  pendingBatchRecords,
  saveBatchResults,
  updateBatch,
  upsertCards,
  upsertConsumers,
  type IssuerBatchRow,
} from '../storage/repos/issuer-batches.ts';
import type { Vault } from '../vault/vault.ts';
import type { TaskResult } from '../jobs/worker.ts';
import type { ClickToPayService, Enrolment } from './click-to-pay.ts';
import type { IssuerCardService } from './issuer-cards.ts';
import { batchRecordAad, outputDocument } from './issuer-batch.ts';
import type { AuditService } from './audit.ts';

/**
 * Batch files: processing, one job per file. Each run works through chunks of records for at most
 * `sliceMs`, then asks to run again (so no run outlives the job lock), and never faster than the
 * issuer's records-per-second cap. A chunk is decided outside any transaction (JWE decryption,
 * validation, Click to Pay digitization), then its consumers, cards, enrolments and results commit
 * together: a crash repeats at most the chunk in flight. A bad record is KO, never a stop.
 */
export interface BatchWorkerDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  cards: IssuerCardService;
  clickToPay: ClickToPayService;
  now: () => number;
  /** Records per chunk. Default 200. */
  chunk?: number;
  /** Work per job run before yielding. Default 2000 ms. */
  sliceMs?: number;
  /**
   * Records decided at once within a chunk. Default 64: their JWEs reach the decryption threads
   * (`vault/jwe-pool.ts`) together, a few messages per chunk (at 8, ~3 JWEs a message: posting cost
   * the main thread ~250 µs a message), and their sandbox-network writes share group commits.
   */
  parallel?: number;
}

interface CardResult {
  cardId: string;
  status: 'OK' | 'KO';
  errorCode?: string;
  clickToPayEnrolment?: 'SUCCESSFUL' | 'FAILED';
  clickToPayErrorCode?: string;
}

interface Decided {
  idx: number;
  ko: boolean;
  result: unknown;
  consumer?: IssuerConsumerRow;
  cards: IssuerCardRow[];
  enrolled: { card: IssuerCardRow; e: Extract<Enrolment, { ok: true }> }[];
}

export function createBatchWorker(deps: BatchWorkerDeps) {
  const k = deps.db.kysely;
  const chunk = deps.chunk ?? 200;
  const sliceMs = deps.sliceMs ?? 2000;
  const parallel = deps.parallel ?? 64;
  /** Per-issuer token buckets (records): the cap holds across an issuer's concurrent files in this process. */
  const buckets = new Map<string, { tokens: number; at: number }>();

  async function take(issuerId: string, rps: number, n: number): Promise<void> {
    const b = buckets.get(issuerId) ?? { tokens: Math.min(rps, n), at: Date.now() };
    buckets.set(issuerId, b);
    for (;;) {
      const now = Date.now();
      b.tokens = Math.min(rps, b.tokens + ((now - b.at) / 1000) * rps);
      b.at = now;
      if (b.tokens >= Math.min(n, rps)) {
        b.tokens -= n;
        return;
      }
      await new Promise((r) => setTimeout(r, Math.ceil(((Math.min(n, rps) - b.tokens) / rps) * 1000)));
    }
  }

  async function decide(batch: IssuerBatchRow, idx: number, raw: Record<string, any>, existing: Map<string, { fingerprint: string; c2p_status: string | null }>, decrypted: (Promise<Uint8Array> | undefined)[]): Promise<Decided> {
    const rowId = typeof raw?.rowId === 'string' || typeof raw?.rowId === 'number' ? raw.rowId : null;
    const rawConsumerId = raw?.consumerAndCardRegistrationRequest?.consumerId;
    let record;
    try {
      record = validateBatchRecord(raw);
    } catch (err) {
      const e = err instanceof TesseraError ? err : new TesseraError('invalid_request', 'The record is not valid.');
      const consumerId = typeof rawConsumerId === 'string' && rawConsumerId.length <= 48 ? rawConsumerId : null;
      const result = { rowId, consumerCardRegistrationResult: { consumerId, consumerStatus: 'KO', cards: [], consumerError: { errorCode: e.code, field: e.param ?? null } } };
      return { idx, ko: true, result, cards: [], enrolled: [] };
    }
    const req = record.consumerAndCardRegistrationRequest;
    const consumer = await deps.cards.prepareConsumer(batch.issuer_id, req.consumerId, req.personalInformation, 'consumerAndCardRegistrationRequest.personalInformation');
    const results: CardResult[] = [];
    const cards: IssuerCardRow[] = [];
    const enrolled: Decided['enrolled'] = [];
    for (const [i, c] of req.cards.entries()) {
      let prepared;
      try {
        prepared = await deps.cards.prepareCard(batch.issuer_id, c.cardId, req.consumerId, c.encryptedData, `cards[${i}].encryptedData`, decrypted[i]);
      } catch (err) {
        if (!(err instanceof TesseraError)) throw err;
        results.push({ cardId: c.cardId, status: 'KO', errorCode: err.code });
        continue;
      }
      const before = existing.get(c.cardId);
      const row = { ...prepared.row, c2p_status: before && before.fingerprint === prepared.row.fingerprint ? before.c2p_status : null };
      cards.push(row);
      const r: CardResult = { cardId: c.cardId, status: 'OK' };
      if (batch.auto_enrolment === 1) {
        const email = row.network === 'AMEX' ? req.personalInformation.email : undefined;
        const e = await deps.clickToPay.enrol(row, consumer, prepared.card, email);
        if (e.ok) {
          enrolled.push({ card: row, e });
          r.clickToPayEnrolment = 'SUCCESSFUL';
        } else {
          r.clickToPayEnrolment = 'FAILED';
          r.clickToPayErrorCode = e.code;
        }
      }
      results.push(r);
    }
    const ko = results.some((r) => r.status === 'KO');
    return { idx, ko, consumer, cards, enrolled, result: { rowId, consumerCardRegistrationResult: { consumerId: req.consumerId, consumerStatus: 'OK', cards: results } } };
  }

  /** One chunk's writes, in bulk and in one transaction (a later record of the same id wins). */
  async function commit(key: { issuerId: string; batchId: string; seqNumber: number }, decided: Decided[]): Promise<void> {
    const now = deps.now();
    const consumers = new Map<string, IssuerConsumerRow>();
    const cards = new Map<string, IssuerCardRow>();
    const tokens = new Map<string, IssuerTokenRow>();
    const profiles = new Set<string>();
    for (const d of decided) {
      if (d.consumer) consumers.set(d.consumer.id, d.consumer);
      for (const c of d.cards) cards.set(c.id, c);
      for (const { card, e } of d.enrolled) {
        cards.set(card.id, { ...card, c2p_status: 'ENROLLED' });
        if (e.digitization) tokens.set(e.digitization.row.id, e.digitization.row);
        profiles.add(card.consumer_id);
      }
    }
    await k.transaction().execute(async (trx) => {
      await upsertConsumers(trx, [...consumers.values()]);
      await upsertCards(trx, [...cards.values()]);
      await insertTokens(trx, [...tokens.values()]);
      await createC2pProfiles(trx, key.issuerId, [...profiles], now);
      await saveBatchResults(trx, key, decided.map((d) => ({ idx: d.idx, result: JSON.stringify(d.result) })));
      await addBatchProgress(trx, key, decided.length, decided.filter((d) => d.ko).length);
    });
  }

  async function writeOut(batch: IssuerBatchRow): Promise<void> {
    if (!batch.out_path) return;
    const tmp = `${batch.out_path}.tmp`;
    const fh = await openFile(tmp, 'w', 0o640);
    try {
      for await (const piece of outputDocument(deps.db, batch)) await fh.write(piece);
    } finally {
      await fh.close();
    }
    await rename(tmp, batch.out_path);
  }

  return {
    /** The job. Returns a reschedule while records remain. */
    async process(payload: unknown): Promise<TaskResult> {
      const key = payload as { issuerId: string; batchId: string; seqNumber: number };
      const batch = await findBatch(k, key.issuerId, key.batchId, key.seqNumber);
      if (!batch || batch.status === 'COMPLETED') return;
      const issuer = await k.selectFrom('issuers').select('records_per_second').where('id', '=', key.issuerId).executeTakeFirst();
      const rps = issuer?.records_per_second ?? 1000;
      const started = Date.now();
      // Where the scan for pending records starts. Records are done in idx order, a chunk at a time
      // with its progress count, so the first `processed_records` are done: a hint only — before the
      // file completes, a scan from the start makes sure no record was skipped.
      let after = batch.processed_records - 1;
      while (Date.now() - started < sliceMs) {
        let records = await pendingBatchRecords(k, key, Math.min(chunk, rps), after);
        if (records.length === 0 && after >= 0) {
          after = -1;
          records = await pendingBatchRecords(k, key, Math.min(chunk, rps), after);
        }
        if (records.length === 0) {
          const done = { ...batch, status: 'COMPLETED', completed_at: deps.now() };
          await writeOut(done);
          await updateBatch(k, key, { status: 'COMPLETED', completed_at: done.completed_at });
          return;
        }
        await take(key.issuerId, rps, records.length);
        await deps.audit.record({ tenantId: issuerTenant(key.issuerId), operation: 'issuer_batch.process', reason: `process ${records.length} records of a batch file`, subject: `batch:${key.batchId}:${key.seqNumber}` });
        const raws: Record<string, any>[] = [];
        const ids = new Set<string>();
        for (const r of records) {
          const raw = JSON.parse(await deps.vault.decrypt(issuerTenant(key.issuerId), r.request_ct ?? '', batchRecordAad(key, r.idx))) as Record<string, any>;
          raws.push(raw);
          for (const c of raw?.consumerAndCardRegistrationRequest?.cards ?? []) if (typeof c?.cardId === 'string') ids.add(c.cardId);
        }
        // Every card's JWE of the chunk goes to the decryption threads at once (a few messages in
        // all); each record's decision awaits its own. Handled here so that a record refused before
        // its cards leaves no unhandled rejection.
        const decrypted = raws.map((raw) => {
          let cards;
          try {
            cards = validateBatchRecord(raw).consumerAndCardRegistrationRequest.cards;
          } catch {
            return []; // KO without decrypting anything (decide says why)
          }
          return cards.map((c, i) => {
            const p = deps.cards.decryptPayload(c.encryptedData, `cards[${i}].encryptedData`);
            p.catch(() => {});
            return p;
          });
        });
        // Cards registered before: a card already in Click to Pay is not digitized again.
        const existing = new Map((await findCards(k, key.issuerId, [...ids].slice(0, 5000))).map((r) => [r.id, r]));
        // `parallel` records in flight, each taking the next as it finishes (a slow one stalls no group).
        const decided: Decided[] = new Array(records.length);
        let next = 0;
        await Promise.all(
          Array.from({ length: Math.min(parallel, records.length) }, async () => {
            while (next < records.length) {
              const i = next++;
              decided[i] = await decide(batch, records[i]!.idx, raws[i]!, existing, decrypted[i]!);
            }
          }),
        );
        await commit(key, decided);
        after = records[records.length - 1]!.idx;
      }
      return { rescheduleAt: Date.now() };
    },

    writeOut,
  };
}

/** A refused drop-folder file's answer: the header with the reason and no records. */
export async function writeRefusal(path: string, h: { batchId: string; seqNumber: number; issuerId: string }, code: ErrorCode | string): Promise<void> {
  const header = { batchId: h.batchId, seqNumber: h.seqNumber, issuerId: h.issuerId, operation: 'CONSUMER_CARD_REGISTRATION', totalRecords: 0, errorCode: code };
  await writeFile(`${path}.tmp`, JSON.stringify({ header, recordsResults: [] }), { mode: 0o640 });
  await rename(`${path}.tmp`, path);
}

export type BatchWorker = ReturnType<typeof createBatchWorker>;
