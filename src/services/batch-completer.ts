import type { Logger } from 'pino';
import type { ErrorCode } from '../domain/errors.ts';
import type { Db } from '../storage/database.ts';
import { addPending } from '../storage/repos/batch-issuers.ts';
import { addBatchCounts, completeBatchIfDone, findBatchById, finishRecords, type BatchRecordRow, type BatchRow } from '../storage/repos/batches.ts';
import { notifier } from './batch-notices.ts';
import type { NetworkTokenService, NetworkTokenView } from './network-tokens.ts';
import type { NetworkTokenRow } from '../storage/repos/network-tokens.ts';
import type { NotificationService } from './notifications.ts';

/** `row`: the network token to store with the result (`provisionForBatch` hands it back unwritten). */
export type RecordOutcome = { ok: true; view: NetworkTokenView; row?: NetworkTokenRow | undefined } | { ok: false; code: ErrorCode; message: string };

type CompleterDeps = {
  db: Db;
  notifications: NotificationService;
  networkTokens: Pick<NetworkTokenService, 'storeBatchTokens' | 'countCreated'>;
  log: Logger;
  now: () => number;
  nudge: () => void;
};

interface Pending {
  record: BatchRecordRow;
  outcome: RecordOutcome;
  done: () => void;
  fail: (e: unknown) => void;
}

/** Results written per transaction, at most; and how long a result may wait for company. */
const GROUP = 250;
const WAIT_MS = 15;

/**
 * Writes records' results in groups: each result, its network token row, its notification, the
 * batch's counters and (for the last result) the batch's completion commit in one transaction. A record's result is written
 * once (`finishRecord` only moves an in-flight record), so a record another process also took
 * after a lease expiry still ends with one result and one notification. A crash before the write
 * loses nothing: the record's lease expires and the TSP answers its repeated request id the same.
 */
export class BatchCompleter {
  readonly #deps: CompleterDeps;
  #queue: Pending[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(deps: CompleterDeps) {
    this.#deps = deps;
  }

  /** Results not yet written. */
  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves once the result is committed. */
  add(record: BatchRecordRow, outcome: RecordOutcome): Promise<void> {
    return new Promise((done, fail) => {
      this.#queue.push({ record, outcome, done, fail });
      if (this.#queue.length >= GROUP) void this.flush();
      else this.#timer ??= setTimeout(() => void this.flush(), WAIT_MS);
    });
  }

  /** Writes everything queued (one transaction at a time). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#flushing = this.#flushing.then(async () => {
      while (this.#queue.length > 0) await this.#write(this.#queue.splice(0, GROUP));
    });
    return this.#flushing;
  }

  async #write(items: Pending[]): Promise<void> {
    const { db, now } = this.#deps;
    const t = now();
    const notices = notifier(this.#deps.notifications);
    let created = 0;
    try {
      // Up to 250 results, each with its token row: a transaction of its own (see `Db.bulk`).
      await db.bulk.transaction().execute(async (trx) => {
        const batches = new Map<string, { row: BatchRow; ok: number; failed: number }>();
        const bins = new Map<string, number>();
        // The tokens first: a record whose token turns out to belong to another merchant fails instead.
        const tokens = items.flatMap(({ outcome: o }) => (o.ok && o.row ? [o.row] : []));
        const stored = tokens.length > 0 ? await this.#deps.networkTokens.storeBatchTokens(trx, tokens) : { created: 0, foreign: new Set<string>() };
        created = stored.created;
        const outcomes = items.map(({ outcome: o }): RecordOutcome =>
          o.ok && stored.foreign.has(o.view.tokenId) ? { ok: false, code: 'internal_error', message: 'The record could not be processed.' } : o,
        );
        const written = await finishRecords(
          trx,
          db.engine,
          items.map(({ record: r }, i) => {
            const o = outcomes[i]!;
            return {
              id: r.id,
              status: o.ok ? 'SUCCEEDED' : 'FAILED',
              token_id: o.ok ? o.view.tokenId : null,
              token_status: o.ok ? o.view.tokenStatus : null,
              error_code: o.ok ? null : o.code,
              message: o.ok ? null : o.message,
            };
          }),
          t,
        );
        for (const [i, { record: r }] of items.entries()) {
          const o = outcomes[i]!;
          // Once per record: the same record can be in one group twice (its lease expired and this
          // process took it again); the UPDATE wrote it once, so it is counted and notified once.
          if (!written.delete(r.id)) continue;
          let b = batches.get(r.batch_pk);
          if (!b) {
            const row = await findBatchById(trx, r.batch_pk);
            if (!row) continue;
            b = { row, ok: 0, failed: 0 };
            batches.set(r.batch_pk, b);
          }
          if (o.ok) b.ok++;
          else b.failed++;
          bins.set(r.bin, (bins.get(r.bin) ?? 0) + 1);
          await notices.record(trx, b.row, o.ok ? { rowId: r.row_id, ok: true, body: { ...o.view } } : { rowId: r.row_id, ok: false, body: { errorCode: o.code, message: o.message } });
        }
        for (const [id, b] of batches) {
          await addBatchCounts(trx, id, b.ok, b.failed);
          if (await completeBatchIfDone(trx, id, t)) {
            const row = await findBatchById(trx, id);
            if (row) await notices.completed(trx, row, t);
          }
        }
        for (const [bin, n] of [...bins].sort()) await addPending(trx, bin, -n);
      });
    } catch (err) {
      // Nothing was written: the records' leases expire and they are tried again (same request ids).
      this.#deps.log.error({ err: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }, 'batch results could not be written');
      for (const i of items) i.fail(err);
      return;
    }
    this.#deps.networkTokens.countCreated(created);
    if (notices.queued > 0) this.#deps.nudge();
    for (const i of items) i.done();
  }
}
