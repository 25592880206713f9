import { DatabaseSync, type StatementSync, type SQLInputValue } from 'node:sqlite';
import { Worker } from 'node:worker_threads';
import {
  CompiledQuery,
  SqliteDialect,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import { CHECKPOINTER_LIMITS, CHECKPOINTER_SOURCE } from './sqlite-checkpointer.ts';

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

  prepare(sql: string): AdaptedStatement {
    let stmt = this.#cache.get(sql);
    if (!stmt) {
      stmt = new AdaptedStatement(this.#db.prepare(sql), sql);
      if (this.#cache.size >= 500) this.#cache.clear();
      this.#cache.set(sql, stmt);
    }
    return stmt;
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  /** The checkpointer thread's messages ('drain', 'resume': see `sqlite-checkpointer.ts`). */
  onCheckpointer(listener: (message: unknown) => void): void {
    this.#checkpointer?.on('message', listener);
    // Listening refs the thread's port again: unref it, or a process that ends without closing the store never exits.
    this.#checkpointer?.unref();
  }

  tellCheckpointer(message: string): void {
    this.#checkpointer?.postMessage(message);
  }

  get inTransaction(): boolean {
    return this.#db.isTransaction;
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
  /** Anything but a plain SELECT may write (INSERT … RETURNING, WITH … UPDATE, DDL): its session waits for the commit. */
  readonly writes: boolean;

  constructor(stmt: StatementSync, sql: string) {
    this.#stmt = stmt;
    this.reader = stmt.columns().length > 0;
    this.writes = !/^\s*select\b/i.test(sql);
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


/** A group commits when no session waits for the connection, or once it is this old or this big. */
const GROUP_MAX_MS = 20;
const GROUP_MAX_SESSIONS = 256;
/** The longest pause of writes for the checkpointer to restart the WAL (it answers sooner; this is in case it cannot). */
const DRAIN_MAX_MS = 2000;

interface Group {
  openedAt: number;
  sessions: number;
  /** Sessions that wrote: each settles when the group's COMMIT does. */
  waiters: { resolve: () => void; reject: (err: unknown) => void }[];
}

/**
 * Group commit on the one SQLite connection. A commit, not a statement, is what costs in WAL mode
 * (every page the transaction dirtied is appended to the WAL), so sessions — a transaction, or a
 * statement on its own — that arrive while another holds the connection run in one outer
 * `BEGIN IMMEDIATE … COMMIT`, each transaction inside its own SAVEPOINT (its rollback undoes its
 * work alone; a failed statement undoes only itself). Nothing is acknowledged early: a session that
 * wrote gets its result only once the group's COMMIT is done, and a failed COMMIT fails every one of
 * them. A session that only read gets its answer at once; one that only reads while no group is
 * open runs in autocommit (a read needs neither the write lock nor a COMMIT: most of an order's
 * statements are such reads). Alone, a session commits at once, as before; under load, N commits
 * become one.
 *
 * The connection is handed over in arrival order (Kysely's own mutex wakes every waiter on each
 * release, which costs O(waiters²) under load).
 *
 * When the checkpointer thread asks ('drain': the WAL is past its size), the driver takes the
 * connection itself at the next hand-over, commits the open group and lets sessions wait (without
 * blocking the event loop) until the thread has copied the last frames ('resume'); the next write
 * then starts the WAL over. The thread never takes the write lock.
 */
class GroupCommitDriver implements Driver {
  readonly #open: () => Promise<CachedDatabase>;
  #db: CachedDatabase | undefined;
  #connection: GroupConnection | undefined;
  #held = false;
  readonly #queue: (() => void)[] = [];
  #group: Group | undefined;
  #commitScheduled = false;
  /** The checkpointer asked for a pause while a session held the connection. */
  #drainWanted = false;
  /** Ends the current pause (set while paused). */
  #resume: (() => void) | undefined;
  #pauseTimer: NodeJS.Timeout | undefined;
  #initialized: Promise<void> | undefined;

  constructor(open: () => Promise<CachedDatabase>) {
    this.#open = open;
  }

  /** Opens the connection (once: the dialect's Kysely handles share this driver). */
  init(): Promise<void> {
    return (this.#initialized ??= this.#init());
  }

  async #init(): Promise<void> {
    this.#db = await this.#open();
    this.#connection = new GroupConnection(this.#db, () => this.#join());
    this.#db.onCheckpointer((message) => {
      if (message === 'resume') this.#resume?.();
      else if (message === 'drain') {
        if (this.#held) this.#drainWanted = true;
        else this.#pause();
      }
    });
  }

  /** Holds the connection (no session is in it) until the checkpointer has copied the WAL to its end. */
  #pause(): void {
    this.#held = true;
    this.#commit();
    // Not unref'd: sessions waiting for the connection may be all a process has left to do (a CLI
    // command; the checkpointer thread does not keep it alive), and it would end with them unsettled.
    this.#pauseTimer = setTimeout(() => this.#resume?.(), DRAIN_MAX_MS);
    this.#resume = () => {
      this.#resume = undefined;
      clearTimeout(this.#pauseTimer);
      this.#handOver();
    };
    this.#db!.tellCheckpointer('paused');
  }

  /** `bulk`: a session of the bulk handle (`GroupCommitDialect.bulk`), which the open group does not take in. */
  async acquireConnection(bulk = false): Promise<DatabaseConnection> {
    if (this.#held) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#held = true;
    const group = this.#group;
    if (group && (bulk || group.sessions >= GROUP_MAX_SESSIONS || Date.now() - group.openedAt >= GROUP_MAX_MS)) this.#commit();
    const connection = this.#connection!;
    connection.wrote = false;
    connection.joined = false;
    connection.bulk = bulk;
    // An open group is joined now (a read sees what the group wrote); otherwise the session joins
    // one only when it writes (`beginTransaction`, or a writing statement): a read on its own runs
    // in autocommit, without taking the write lock or paying for a BEGIN and a COMMIT.
    if (this.#group) this.#join();
    return connection;
  }

  /** The session joins the open group, opening one (`BEGIN IMMEDIATE`) if there is none. */
  #join(): void {
    const connection = this.#connection!;
    if (connection.joined) return;
    if (!this.#group) {
      // May throw (e.g. another process held the write lock past busy_timeout): the session fails,
      // and Kysely still releases the connection.
      this.#db!.exec('BEGIN IMMEDIATE');
      this.#group = { openedAt: Date.now(), sessions: 0, waiters: [] };
    }
    this.#group.sessions += 1;
    connection.joined = true;
  }

  async beginTransaction(): Promise<void> {
    this.#join();
    // A bulk session's transaction is the first of a new group (it committed the open one when it
    // got the connection): no SAVEPOINT, its rollback is the group's.
    if (!this.#connection!.bulk) this.#db!.exec('SAVEPOINT tessera_session');
  }

  async commitTransaction(): Promise<void> {
    // A bulk session's transaction has no SAVEPOINT: its work stays in its group, which commits as any other.
    if (!this.#connection!.bulk) this.#db!.exec('RELEASE tessera_session');
  }

  async rollbackTransaction(): Promise<void> {
    const connection = this.#connection!;
    if (connection.bulk) {
      // Its group holds this transaction's work alone (no other session ran since it began it).
      connection.joined = false;
      this.#group = undefined;
      if (this.#db!.inTransaction) this.#db!.exec('ROLLBACK');
      return;
    }
    this.#db!.exec('ROLLBACK TO tessera_session');
    this.#db!.exec('RELEASE tessera_session');
  }

  async releaseConnection(): Promise<void> {
    const group = this.#group;
    if (!group || !this.#connection!.joined) {
      // Read alone, in autocommit (or its group was committed under it): nothing to wait for.
      this.#handOver();
      return;
    }
    const wrote = this.#connection!.wrote;
    const committed = wrote ? new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject })) : undefined;
    if (this.#queue.length === 0) this.#commitSoon();
    this.#handOver();
    await committed;
  }

  /**
   * Commits the open group once this turn of the event loop is over (`setImmediate`): sessions
   * that start in the same turn — the requests one poll of the sockets delivered, each at its own
   * step — join it, and their pages (the same table and index pages, mostly) are written to the
   * WAL once, not once per session. A session that wrote still waits for that COMMIT.
   */
  #commitSoon(): void {
    if (this.#commitScheduled) return;
    this.#commitScheduled = true;
    setImmediate(() => {
      this.#commitScheduled = false;
      // Held: the session holding the connection commits (or schedules) on its release.
      if (!this.#held) this.#commit();
    });
  }

  #handOver(): void {
    if (this.#drainWanted) {
      this.#drainWanted = false;
      this.#pause();
      return;
    }
    const next = this.#queue.shift();
    if (next) next();
    else this.#held = false;
  }

  #commit(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = undefined;
    try {
      this.#db!.exec('COMMIT');
    } catch (err) {
      try {
        if (this.#db!.inTransaction) this.#db!.exec('ROLLBACK');
      } catch {}
      for (const w of group.waiters) w.reject(err);
      return;
    }
    for (const w of group.waiters) w.resolve();
  }

  async destroy(): Promise<void> {
    clearTimeout(this.#pauseTimer);
    if (!this.#held) this.#commit();
    this.#db?.close();
  }
}

class GroupConnection implements DatabaseConnection {
  readonly #db: CachedDatabase;
  readonly #join: () => void;
  /** Whether the current session ran a statement that may write. */
  wrote = false;
  /** Whether the current session is part of the open group (inside its `BEGIN IMMEDIATE`). */
  joined = false;
  /** Whether the current session is the bulk handle's: a write outside a transaction runs on its own, in autocommit. */
  bulk = false;

  constructor(db: CachedDatabase, join: () => void) {
    this.#db = db;
    this.#join = join;
  }

  executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#db.prepare(compiled.sql);
    // A bulk session's statement outside a transaction commits by itself when it returns (a
    // multi-row statement inside a group copies the pages it changes to a statement journal first).
    if (stmt.writes && !(this.bulk && !this.joined)) {
      this.#join();
      this.wrote = true;
    }
    if (stmt.reader) return Promise.resolve({ rows: stmt.all(compiled.parameters) as R[] });
    const { changes, lastInsertRowid } = stmt.run(compiled.parameters);
    return Promise.resolve({ numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid), rows: [] });
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming is not supported on the embedded store');
  }
}

/** How often the background thread checkpoints the WAL. 1 s. */
const CHECKPOINT_INTERVAL_MS = 1000;

/**
 * Opens (creating if needed) a SQLite file in WAL mode, ready for several processes to share.
 * Checkpoints run on a worker thread with its own connection (automatic checkpoints are off on this
 * one): a checkpoint's syncs would otherwise stall the event loop inside whichever commit hit it.
 */
export function nodeSqliteDialect(path: string, opts: { restartFrames?: number } = {}): GroupCommitDialect {
  return new GroupCommitDialect(async () => {
      const db = new DatabaseSync(path);
      // The timeout first: switching to WAL waits on a lock another process (or checkpointer) may hold.
      db.exec('PRAGMA busy_timeout = 5000');
      db.exec('PRAGMA journal_mode = WAL');
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec('PRAGMA foreign_keys = ON');
      db.exec('PRAGMA wal_autocheckpoint = 0');
      // 8 MB of page cache (SQLite's default is 2 MB): the inner pages of the big indexes stay in it,
      // so inserting a batch's tokens reads fewer pages back from the file (at 1,000,000 records,
      // 5.7 reads a record instead of 6.9: docs/architecture.md).
      db.exec('PRAGMA cache_size = -8000');
      const checkpointer = new Worker(CHECKPOINTER_SOURCE, {
        eval: true,
        workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS, restartFrames: opts.restartFrames },
        resourceLimits: CHECKPOINTER_LIMITS,
      });
      // Should the thread ever die (e.g. past its memory limit), checkpoints go back to the connection.
      checkpointer.on('error', () => {
        if (db.isOpen) db.exec('PRAGMA wal_autocheckpoint = 1000');
      });
      checkpointer.unref();
      return new CachedDatabase(db, checkpointer);
  });
}

export class GroupCommitDialect extends SqliteDialect {
  readonly #open: () => Promise<CachedDatabase>;
  /** The one connection's driver, shared by every Kysely handle made from this dialect. */
  #driver: GroupCommitDriver | undefined;

  constructor(open: () => Promise<CachedDatabase>) {
    super({ database: open });
    this.#open = open;
  }

  override createDriver(): Driver {
    return this.#sharedDriver();
  }

  #sharedDriver(): GroupCommitDriver {
    return (this.#driver ??= new GroupCommitDriver(this.#open));
  }

  /**
   * The same connection, for a second Kysely handle whose sessions write many rows at once (a
   * batch's results, a chunk of its records, a claim of 100): the open group commits when such a
   * session gets the connection; its transaction then begins a group of its own, without a
   * SAVEPOINT (its rollback is the group's), and a statement of it outside a transaction runs in
   * autocommit. Inside a group, a SAVEPOINT — or a multi-row statement's own statement journal —
   * first copies every page it changes that existed before it, to a temporary file once past 64 KB:
   * most pages a batch record's result touches were written twice, and a file created and deleted
   * per transaction. Its handle's `destroy()` leaves the connection to the main handle.
   */
  bulk(): SqliteDialect {
    const shared = () => this.#sharedDriver();
    return new (class extends SqliteDialect {
      override createDriver(): Driver {
        return new BulkDriver(shared());
      }
    })({ database: this.#open });
  }
}

/** A view of the group-commit driver whose transactions each open their own group (`GroupCommitDialect.bulk`). */
class BulkDriver implements Driver {
  readonly #driver: GroupCommitDriver;

  constructor(driver: GroupCommitDriver) {
    this.#driver = driver;
  }

  init(): Promise<void> {
    return this.#driver.init();
  }

  acquireConnection(): Promise<DatabaseConnection> {
    return this.#driver.acquireConnection(true);
  }

  beginTransaction(): Promise<void> {
    return this.#driver.beginTransaction();
  }

  commitTransaction(): Promise<void> {
    return this.#driver.commitTransaction();
  }

  rollbackTransaction(): Promise<void> {
    return this.#driver.rollbackTransaction();
  }

  releaseConnection(): Promise<void> {
    return this.#driver.releaseConnection();
  }

  async destroy(): Promise<void> {
    // The main handle owns the connection and closes it.
  }
}
