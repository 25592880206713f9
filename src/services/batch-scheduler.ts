import { randomUUID } from 'node:crypto';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { NetworkName } from '../domain/network.ts';
import type { Db } from '../storage/database.ts';
import { advanceClock, findIssuerRate, listBusyIssuers, raiseRate, recordThrottle, takeTokens, type BatchIssuerRow } from '../storage/repos/batch-issuers.ts';
import { claimRecords, completeBatchIfDone, findBatchById, listBatchIdsByStatus, recoverExpiredRecords, releaseRecord, type BatchRecordRow } from '../storage/repos/batches.ts';
import type { Vault } from '../vault/vault.ts';
import { notifier } from './batch-notices.ts';
import { recordAad, type SealedCard } from './batches.ts';
import { BatchCompleter, type RecordOutcome } from './batch-completer.ts';
import type { NetworkTokenService } from './network-tokens.ts';
import type { NotificationService } from './notifications.ts';
import type { AuditEntry, AuditService } from './audit.ts';

/** How batch records reach the card networks. Every option's default is in `config.ts`. */
export interface BatchSchedulerOptions {
  /** The cap each issuer (BIN) is known to accept, requests/s; 0 = unknown: unpaced until a 429 teaches one. */
  issuerTps: number;
  /** The share of a known cap batches may use (the rest is kept for the interactive API), e.g. 0.9. */
  share: number;
  /** TSP calls in flight at once in this process, across all issuers. */
  concurrency: number;
  /** A claimed record not finished by then is taken back (its process died). */
  leaseMs: number;
  /** TSP attempts of a record (429s and timeouts) before it fails with the last error. */
  maxAttempts: number;
  retryBaseMs: number;
}

export interface BatchSchedulerDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  networkTokens: NetworkTokenService;
  notifications: NotificationService;
  log: Logger;
  now: () => number;
  nudge: () => void;
}

const SWEEP_MS = 1000;
const IDLE_MS = 100;
/**
 * Event-loop utilization above which this process counts as saturated (and below which it no longer
 * does): its CPU, not the issuers' caps, then limits how fast records go.
 */
const SATURATED = 0.85;
const UNSATURATED = 0.6;
/** While saturated, an issuer with less work than the busiest is paced to finish its backlog in this share of the busiest one's time (never under a tenth of its pace). */
const CATCH_UP = 0.67;
/** A lane claims no fewer records than this while others are in flight (one-record claims cost a token round, a claim and an audit each). */
const MIN_CLAIM = 16;
/** Pacing burst: tokens an issuer's bucket may hold, in seconds of its rate (small, so no calendar second overshoots). */
const BURST_S = 0.1;

/**
 * The batch scheduler. Glossary: each issuer (BIN) with records waiting gets a *lane* in every
 * process; a lane takes tokens from the issuer's pacing bucket (shared through the database), claims
 * that many records from the issuer's queue (oldest fair-queue position first, so batches take
 * turns), and calls the TSP. Lanes share this process's in-flight slots; when several wait for
 * them, the issuer with the longest backlog at its pace goes first (it is the one that sets when the
 * work ends; the others still get every slot it cannot use within its cap, so a busy issuer never
 * keeps a quiet one waiting). Results are written in groups by the completer.
 */
export class BatchScheduler {
  readonly id = `batches-${randomUUID().slice(0, 8)}`;
  readonly #deps: BatchSchedulerDeps;
  readonly #opts: BatchSchedulerOptions;
  readonly #lanes = new Map<string, Promise<void>>();
  readonly #completer: BatchCompleter;
  /** Requests started per issuer in the current and the previous second: what a first 429 learns the pace from. */
  readonly #seen = new Map<string, { second: number; now: number; before: number }>();
  #free: number;
  /** Lanes waiting for in-flight slots. */
  readonly #slotWaiters = new Map<string, () => void>();
  /** Seconds of work each busy issuer has left at its pace (from the last look for work): the slot priority. */
  readonly #backlog = new Map<string, number>();
  /** The longest backlog, seconds. */
  #critical = 0;
  #saturated = false;
  #elu: EventLoopUtilization | undefined;
  #eluAt = 0;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #lastSweep = 0;
  /** Whether this process has swept once (its first sweep may take back every record in flight: see `#sweep`). */
  #swept = false;

  constructor(deps: BatchSchedulerDeps, opts: BatchSchedulerOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#free = opts.concurrency;
    this.#completer = new BatchCompleter(deps);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  nudge(): void {
    this.#wake?.();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    this.#wakeSlotWaiters();
    await this.#loop;
    await Promise.all(this.#lanes.values());
    await this.#completer.flush();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      try {
        const now = this.#deps.now();
        if (now - this.#lastSweep >= SWEEP_MS) {
          this.#lastSweep = now;
          await this.#sweep(now);
        }
        const busy = await listBusyIssuers(this.#deps.db.kysely);
        this.#backlog.clear();
        for (const row of busy) {
          const rate = this.#fullRate(row.rate);
          this.#backlog.set(row.bin, rate > 0 ? row.pending / rate : row.pending);
        }
        this.#critical = Math.max(0, ...this.#backlog.values());
        this.#measureLoad(now);
        for (const { bin } of busy) {
          if (!this.#lanes.has(bin)) this.#lanes.set(bin, this.#lane(bin).finally(() => this.#lanes.delete(bin)));
        }
      } catch (err) {
        this.#deps.log.error({ err: describe(err) }, 'batch scheduler: looking for work failed');
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, IDLE_MS);
      });
      this.#wake = undefined;
    }
  }

  /**
   * Takes back records of dead processes, and completes batches whose last results another process
   * wrote. With SQLite, `tessera serve` is the only process: a record in flight when it starts was
   * left by one that died, and is taken back at once rather than when its lease ends.
   */
  async #sweep(now: number): Promise<void> {
    const k = this.#deps.db.kysely;
    // Only before this process claimed anything (its first sweep, failed or not): never its own records.
    const atStart = this.#deps.db.engine === 'sqlite' && !this.#swept;
    this.#swept = true;
    const recovered = await recoverExpiredRecords(k, atStart ? Number.MAX_SAFE_INTEGER : now);
    if (recovered > 0) this.#deps.log.warn({ records: recovered }, 'batch records taken back from a process that stopped');
    for (const id of await listBatchIdsByStatus(k, 'PROCESSING', 100)) {
      const notices = notifier(this.#deps.notifications);
      await k.transaction().execute(async (trx) => {
        if (!(await completeBatchIfDone(trx, id, now))) return;
        const batch = await findBatchById(trx, id);
        if (batch) await notices.completed(trx, batch, now);
      });
      if (notices.queued > 0) this.#deps.nudge();
    }
  }

  /** An issuer's full pace: a known cap (configured) wins over a learned one; 0 = unpaced. */
  #fullRate(learned: number): number {
    return this.#opts.issuerTps > 0 ? Math.max(1, Math.floor(this.#opts.issuerTps * this.#opts.share)) : learned;
  }

  /** Whether this process's event loop is saturated, over the last quarter second or more. */
  #measureLoad(now: number): void {
    if (now - this.#eluAt < 250) return;
    const since = this.#elu;
    this.#elu = performance.eventLoopUtilization();
    this.#eluAt = now;
    if (!since) return;
    const u = performance.eventLoopUtilization(this.#elu, since).utilization;
    if (u >= SATURATED) this.#saturated = true;
    else if (u <= UNSATURATED) this.#saturated = false;
  }

  /**
   * The pace of an issuer. While this process's CPU is the limit, the issuers cannot all run at
   * their pace: the one with the longest backlog keeps its full pace (it sets when the work ends),
   * and the others are slowed to finish theirs within `CATCH_UP` of its time, leaving it the CPU.
   * Nothing finishes later than the busiest issuer would anyway; with CPU to spare, all run at full pace.
   */
  #pace = (row: BatchIssuerRow): { rate: number; burst: number } => {
    let rate = this.#fullRate(row.rate);
    if (rate > 0 && this.#saturated && this.#critical > 0) {
      const mine = this.#backlog.get(row.bin) ?? this.#critical;
      if (mine < this.#critical) rate = Math.max(Math.ceil(rate / 10), Math.min(rate, Math.ceil((rate * mine) / (this.#critical * CATCH_UP))));
    }
    return { rate, burst: Math.max(1, Math.ceil(rate * BURST_S)) };
  };

  async #lane(bin: string): Promise<void> {
    const { db, now } = this.#deps;
    let lastRaise = now();
    let claimedVtime = -1;
    try {
      while (this.#running) {
        // In-flight slots are a soft limit, taken after the claim (a lane waiting on its issuer's
        // bucket holds none; lanes ask for tokens side by side), in helpings worth a claim.
        if (this.#free < Math.min(MIN_CLAIM, this.#opts.concurrency)) {
          await new Promise<void>((resolve) => this.#slotWaiters.set(bin, resolve));
          continue;
        }
        const t = now();
        const { granted, waitMs, rate } = await takeTokens(db, bin, Math.min(100, this.#free), this.#pace, t, claimedVtime);
        claimedVtime = -1;
        if (this.#opts.issuerTps === 0 && rate > 0 && t - lastRaise >= 1000) {
          // Additive increase of a learned pace while the issuer stops answering 429.
          lastRaise = t;
          await raiseRate(db.kysely, bin, rate, rate + Math.max(1, Math.round(rate * 0.05)), t - 2000);
        }
        if (granted === 0) {
          await sleep(Math.min(waitMs, 250));
          continue;
        }
        const records = await claimRecords(db, bin, granted, this.id, t + this.#opts.leaseMs, t);
        if (records.length === 0) return;
        this.#free -= records.length;
        claimedVtime = Math.max(...records.map((r) => r.vtime));
        this.#count(bin, records.length, t);
        try {
          // One audit record per merchant and claim (not per record: appends take turns on the chain head).
          await this.#deps.audit.recordMany(batchAuditEntries(records));
        } catch (err) {
          // Unrecorded access does not happen: the records go back to their queue, their slots to the pool.
          this.#release(records.length);
          const later = now() + this.#opts.retryBaseMs;
          await Promise.all(records.map((r) => releaseRecord(db.kysely, r.id, later).catch(() => {})));
          throw err;
        }
        for (const r of records) void this.#process(r).finally(() => this.#release(1));
        // Back-pressure: results waiting to be written stay bounded (memory), whatever the batch size.
        if (this.#completer.waiting > 4 * this.#opts.concurrency) await this.#completer.flush();
      }
    } catch (err) {
      this.#deps.log.error({ err: describe(err), bin }, 'batch lane failed; it restarts on the next round');
      await sleep(IDLE_MS);
    } finally {
      this.#slotWaiters.delete(bin);
      if (claimedVtime >= 0) await advanceClock(db.kysely, bin, claimedVtime).catch(() => {});
    }
  }

  #release(n: number): void {
    if (n <= 0) return;
    this.#free += n;
    if (this.#free >= Math.min(MIN_CLAIM, this.#opts.concurrency) || !this.#running) this.#wakeSlotWaiters();
  }

  /** Wakes the waiting lanes, longest backlog first: each runs up to its reservation in that order. */
  #wakeSlotWaiters(): void {
    if (this.#slotWaiters.size === 0) return;
    const order = [...this.#slotWaiters].sort(([a], [b]) => (this.#backlog.get(b) ?? 0) - (this.#backlog.get(a) ?? 0));
    this.#slotWaiters.clear();
    for (const [, wake] of order) wake();
  }

  #count(bin: string, n: number, t: number): void {
    const second = Math.floor(t / 1000);
    const s = this.#seen.get(bin) ?? { second, now: 0, before: 0 };
    if (s.second !== second) Object.assign(s, { before: s.second === second - 1 ? s.now : 0, now: 0, second });
    s.now += n;
    this.#seen.set(bin, s);
  }

  async #process(r: BatchRecordRow): Promise<void> {
    const { db, vault, networkTokens, now, log } = this.#deps;
    try {
      const sealed = JSON.parse(await vault.decrypt(r.merchant_id, r.card_ct ?? '', recordAad(r.batch_pk, r.row_id))) as SealedCard;
      const outcome = await networkTokens.provisionForBatch(
        r.merchant_id,
        { card: sealed.card, network: sealed.network as NetworkName, source: 'ON_FILE', cvv: sealed.cvv, accountId: sealed.accountId, email: sealed.email },
        r.id,
      );
      const last = r.attempts >= this.#opts.maxAttempts;
      if (!outcome.ok && outcome.code === 'rate_limited' && !last) {
        await this.#throttled(r.bin, outcome.retryAfterS ?? 1);
        await releaseRecord(db.kysely, r.id, now() + (outcome.retryAfterS ?? 1) * 1000);
        return;
      }
      if (!outcome.ok && outcome.code === 'tsp_unavailable' && !last) {
        await releaseRecord(db.kysely, r.id, now() + this.#opts.retryBaseMs * 2 ** (r.attempts - 1));
        return;
      }
      // The slot is for the TSP call: the result is written with others, and a failed write is retried through the lease.
      void this.#completer.add(r, outcome as RecordOutcome).catch(() => {});
    } catch (err) {
      // Our own fault (database, vault): retried like a transient one, then reported as internal_error.
      log.error({ err: describe(err), record: r.id }, 'batch record failed');
      if (r.attempts >= this.#opts.maxAttempts) {
        await this.#completer.add(r, { ok: false, code: 'internal_error', message: 'The record could not be processed.' }).catch(() => {});
      } else {
        await releaseRecord(db.kysely, r.id, now() + this.#opts.retryBaseMs * 2 ** (r.attempts - 1)).catch(() => {});
      }
    }
  }

  /** A 429: everyone pauses this issuer for `retry-after`; an unknown cap is learned (multiplicative decrease). */
  async #throttled(bin: string, retryAfterS: number): Promise<void> {
    const t = this.#deps.now();
    const row = await findIssuerRate(this.#deps.db.kysely, bin);
    const seen = this.#seen.get(bin);
    const observed = seen ? Math.max(seen.before, seen.now) : 0;
    const rate = this.#opts.issuerTps > 0 ? row : row > 0 ? Math.max(1, Math.floor(row * 0.7)) : Math.max(1, Math.floor(observed * 0.8));
    await recordThrottle(this.#deps.db.kysely, bin, rate, t + retryAfterS * 1000, t);
    this.#deps.log.warn({ bin, retryAfterS, rate }, 'issuer throttled batch requests');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function describe(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The audit entries of one claim: per merchant, how many records of which batches are decrypted. */
function batchAuditEntries(records: BatchRecordRow[]): AuditEntry[] {
  const byMerchant = new Map<string, Map<string, number>>();
  for (const r of records) {
    const batches = byMerchant.get(r.merchant_id) ?? new Map<string, number>();
    batches.set(r.batch_pk, (batches.get(r.batch_pk) ?? 0) + 1);
    byMerchant.set(r.merchant_id, batches);
  }
  return [...byMerchant].map(([tenantId, batches]) => ({
    tenantId,
    operation: 'batch.tokenize',
    reason: `network tokenization of ${[...batches.values()].reduce((a, b) => a + b, 0)} batch records`,
    subject: [...batches].map(([pk, n]) => `batch:${pk}(${n})`).join(' ').slice(0, 500),
  }));
}
