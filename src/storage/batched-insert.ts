import type { Executor } from './repos/executor.ts';
import { TurnQueue } from './turn-queue.ts';

interface Pending<T> {
  row: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Group commit for a hot insert: rows handed over in the same turn of the event loop are written
 * with one multi-row INSERT in one transaction, and each caller's promise settles only once its row
 * is committed — nothing is acknowledged before it is stored. On SQLite this turns N commits into
 * one (the commit, not the row, is what costs); on PostgreSQL N round trips into one. If a batch
 * fails, its rows are retried one by one so each caller gets its own outcome.
 */
export class BatchedInserter<T> {
  readonly #db: Executor;
  readonly #insertMany: (db: Executor, rows: T[]) => Promise<void>;
  readonly #queue: TurnQueue<Pending<T>>;

  /** `maxBatch`: rows per statement at most. Default 200. */
  constructor(db: Executor, insertMany: (db: Executor, rows: T[]) => Promise<void>, maxBatch = 200) {
    this.#db = db;
    this.#insertMany = insertMany;
    this.#queue = new TurnQueue((batch) => this.#write(batch), maxBatch);
  }

  insert(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#queue.push({ row, resolve, reject }));
  }

  async #write(batch: Pending<T>[]): Promise<void> {
    try {
      await this.#insertMany(this.#db, batch.map((p) => p.row));
      for (const p of batch) p.resolve();
    } catch {
      for (const p of batch) {
        try {
          await this.#insertMany(this.#db, [p.row]);
          p.resolve();
        } catch (err) {
          p.reject(err);
        }
      }
    }
  }
}
