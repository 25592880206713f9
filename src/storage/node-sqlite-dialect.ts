import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import { SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';

/**
 * Kysely's SQLite dialect speaks the better-sqlite3 shape; this adapts Node's built-in `node:sqlite`
 * to it, so the embedded default needs no native addon. Prepared statements are cached per SQL text
 * (Kysely's SQL for one query shape is stable), which is most of the embedded path's speed.
 */
class CachedDatabase implements SqliteDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, AdaptedStatement>();
  readonly #checkpointer: Worker | undefined;

  constructor(db: DatabaseSync, checkpointer?: Worker) {
    this.#db = db;
    this.#checkpointer = checkpointer;
  }

  prepare(sql: string): SqliteStatement {
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      stmt = new AdaptedStatement(this.#db.prepare(sql));
      if (this.#cache.size >= 500) this.#cache.clear();
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  close(): void {
    this.#checkpointer?.postMessage('stop');
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

function bind(parameters: ReadonlyArray<unknown>): SQLInputValue[] {
  return parameters.map((p) => {
    if (typeof p === 'boolean') return p ? 1 : 0;
    if (p === undefined) return null;
    return p as SQLInputValue;
  });
}

class AdaptedStatement implements SqliteStatement {
  readonly #stmt: StatementSync;
  readonly reader: boolean;

  constructor(stmt: StatementSync) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    return this.#stmt.all(...bind(parameters));
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    return this.#stmt.run(...bind(parameters));
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    return this.#stmt.iterate(...bind(parameters)) as IterableIterator<unknown>;
  }
}

/** How often the background thread checkpoints the WAL. 1 s. */
const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * Opens (creating if needed) a SQLite file in WAL mode, ready for several processes to share.
 * Checkpoints run on a worker thread with its own connection (automatic checkpoints are off on this
 * one): a checkpoint's syncs would otherwise stall the event loop inside whichever commit hit it.
 */
export function nodeSqliteDialect(path: string): SqliteDialect {
  return new SqliteDialect({
    database: async () => {
      const db = new DatabaseSync(path);
      // The timeout first: switching to WAL waits on a lock another process (or checkpointer) may hold.
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = ON');
      db.exec('PRAGMA wal_autocheckpoint = 0');
      const checkpointer = new Worker(new URL('./sqlite-checkpointer.ts', import.meta.url), {
        workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS },
      });
      checkpointer.unref();
      return new CachedDatabase(db, checkpointer);
    },
  });
}
