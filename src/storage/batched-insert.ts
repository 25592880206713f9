import type { Executor } from './repos/executor.ts';

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
  readonly #maxBatch: number;
  #pending: Pending<T>[] = [];
  #scheduled = false;
  #flushing = false;

  /** `maxBatch`: rows per statement at most. Default 200. */
  constructor(db: Executor, insertMany: (db: Executor, rows: T[]) => Promise<void>, maxBatch = 200) {
    this.#db = db;
    this.#insertMany = insertMany;
    this.#maxBatch = maxBatch;
  }

  insert(row: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ row, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#flushing) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
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
    } finally {
      this.#flushing = false;
    }
  }
}
