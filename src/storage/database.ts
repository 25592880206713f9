import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import { nodeSqliteDialect } from './node-sqlite-dialect.ts';
import type { Database } from './schema.ts';
import * as m0001 from './migrations/0001-initial.ts';
import * as m0002 from './migrations/0002-network-tokens.ts';
import * as m0003 from './migrations/0003-orders-webhooks.ts';
import * as m0004 from './migrations/0004-issuers.ts';
import * as m0005 from './migrations/0005-batches.ts';
import * as m0006 from './migrations/0006-audit.ts';
import * as m0007 from './migrations/0007-one-live-enrolment.ts';
import * as m0008 from './migrations/0008-hosted-fields.ts';
import * as m0009 from './migrations/0009-operators.ts';
import * as m0010 from './migrations/0010-key-versions.ts';
import * as m0012 from './migrations/0012-ops.ts';
import * as m0013 from './migrations/0013-sandbox-par-keys.ts';
import * as m0014 from './migrations/0014-sandbox-token-serials.ts';

export type Engine = 'sqlite' | 'postgres';

/** An open database: the Kysely handle, which engine it is, and how to close it. */
export interface Db {
  kysely: Kysely<Database>;
  /**
   * The same database through connections whose commits do not wait for the WAL flush
   * (PostgreSQL `synchronous_commit = off`; on SQLite, the one connection). Only for writes whose
   * loss in a database-server crash is harmless: state of the sandbox network (a simulator of an
   * outside system), or a row that a later synchronous commit on the same server covers — a
   * synchronous commit flushes the whole WAL before it, so once the batch record's result is durable,
   * the network token written before it is too; until then the record is still in flight and its
   * retry writes the token again. A Tessera process crash loses nothing either way: the commit
   * happened, only the disk flush is deferred (by at most 3 × `wal_writer_delay`).
   */
  relaxed: Kysely<Database>;
  /**
   * The same database, for sessions — a transaction, or one statement — that write many rows at once
   * (a batch's results, a chunk of its records, a claim of its records). On SQLite such a session
   * commits the open group and runs apart from it, without a SAVEPOINT or a statement journal (see
   * `GroupCommitDialect.bulk`); on PostgreSQL it is `kysely`.
   */
  bulk: Kysely<Database>;
  engine: Engine;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** A `postgres://` URL selects PostgreSQL; otherwise `sqlitePath` is used. */
  databaseUrl?: string | undefined;
  /** The embedded SQLite file. */
  sqlitePath: string;
  /** PostgreSQL pool size. Default 10. */
  poolSize?: number;
}

const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': m0001,
  '0002-network-tokens': m0002,
  '0003-orders-webhooks': m0003,
  '0004-issuers': m0004,
  '0005-batches': m0005,
  '0006-audit': m0006,
  '0007-one-live-enrolment': m0007,
  '0008-hosted-fields': m0008,
  '0009-operators': m0009,
  '0010-key-versions': m0010,
  '0012-ops': m0012,
  '0013-sandbox-par-keys': m0013,
  '0014-sandbox-token-serials': m0014,
};

/** Tessera's migrations, in name order (exported for tests that start from an older schema). */
export class StaticMigrations implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

export function openDatabase(options: DatabaseOptions): Db {
  if (isPostgresUrl(options.databaseUrl)) {
    // BIGINT (epoch ms) comes back as a number, as in SQLite; per pool, not global.
    const types = {
      getTypeParser: (oid: number, format?: string) =>
        oid === 20 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
    };
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: options.poolSize ?? 10, types });
    // An idle client's error (e.g. the server restarting) must not crash the process; queries retry.
    pool.on('error', () => {});
    // A checked-out client has no pool listener: the server going away while Kysely holds it (a
    // transaction, a worker's claim) emitted an unhandled 'error' and killed the process. The client
    // is marked unusable and the pool drops it on release; the query in flight fails on its own.
    pool.on('connect', (client) => client.on('error', () => {}));
    const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    const relaxedPool = new pg.Pool({ connectionString: options.databaseUrl, max: Math.max(2, Math.ceil((options.poolSize ?? 10) / 2)), types, options: '-c synchronous_commit=off' });
    relaxedPool.on('error', () => {});
    relaxedPool.on('connect', (client) => client.on('error', () => {}));
    const relaxed = new Kysely<Database>({ dialect: new PostgresDialect({ pool: relaxedPool }) });
    return {
      kysely,
      relaxed,
      bulk: kysely,
      engine: 'postgres',
      close: async () => {
        await Promise.all([kysely.destroy(), relaxed.destroy()]);
      },
    };
  }
  mkdirSync(dirname(options.sqlitePath), { recursive: true });
  const dialect = nodeSqliteDialect(options.sqlitePath);
  const kysely = new Kysely<Database>({ dialect });
  const bulk = new Kysely<Database>({ dialect: dialect.bulk() });
  return {
    kysely,
    relaxed: kysely,
    bulk,
    engine: 'sqlite',
    close: async () => {
      await bulk.destroy();
      await kysely.destroy();
    },
  };
}

/** PostgreSQL SQLSTATEs and socket errors that mean "the server is not there right now" (a restart, a failover). */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006']);
const UNAVAILABLE_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection ended/i;

/** Whether `err` is the database being unreachable (retryable: 503), rather than a fault of ours. */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  if (!e || typeof e !== 'object') return false;
  return (typeof e.code === 'string' && UNAVAILABLE_CODES.has(e.code)) || (typeof e.message === 'string' && UNAVAILABLE_MESSAGES.test(e.message));
}

/** True when a database error is a unique-key violation (SQLite or PostgreSQL). */
export function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === '23505' || /UNIQUE constraint failed/.test(String(e?.message ?? ''));
}

/** PostgreSQL refusing text it cannot store (a NUL, an invalid byte sequence): the input's fault, not ours. */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '22021' || code === '22P05';
}

/** Applies every pending migration; safe to call from several processes at once. */
export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db: db.kysely, provider: new StaticMigrations(), allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every known migration has been applied (for readiness). */
export async function migrationsApplied(db: Db): Promise<boolean> {
  const migrator = new Migrator({ db: db.kysely, provider: new StaticMigrations(), allowUnorderedMigrations: true });
  const all = await migrator.getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
