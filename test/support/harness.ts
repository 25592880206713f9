import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { buildDeps, type Deps } from '../../src/deps.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { buildApp } from '../../src/http/app.ts';
import type { Engine } from '../../src/storage/database.ts';
import { findPans } from './cards.ts';

/**
 * Every storage-touching test runs on each engine: SQLite always, and the PostgreSQL of this
 * machine (`TESSERA_TEST_PG_URL`, default postgres://postgres@127.0.0.1:5432/postgres). Each
 * instance gets a fresh database that is dropped afterwards. PostgreSQL being unreachable fails
 * the run rather than silently skipping half the suite; `TESSERA_TEST_ENGINES=sqlite` opts out.
 */
export const ENGINES: Engine[] = (process.env.TESSERA_TEST_ENGINES ?? 'sqlite,postgres').split(',').map((e) => e.trim() as Engine);

const PG_ADMIN_URL = process.env.TESSERA_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Instance {
  engine: Engine;
  deps: Deps;
  app: FastifyInstance;
  dataDir: string;
  databaseUrl: string | undefined;
  /** Every log line this instance wrote. */
  logs: string[];
  close(): Promise<void>;
  /** Stops this process's app and worker without a word (as a crash would) and starts a new one on the same database. */
  restart(env?: Record<string, string>): Promise<Instance>;
  /** Every byte the database holds, as text: the SQLite files, or a pg_dump-like read of every table. */
  storedText(): Promise<string>;
}

/** A fresh, empty PostgreSQL database for one test instance, and how to drop it. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `tessera_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** Starts Tessera in-process on a fresh database of `engine`, with test-friendly timings. */
export async function startInstance(engine: Engine, env: Record<string, string> = {}): Promise<Instance> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-test-'));
  const pgDb = engine === 'postgres' ? await createPgDatabase() : undefined;
  return boot(engine, dataDir, pgDb, env, []);
}

async function boot(
  engine: Engine,
  dataDir: string,
  pgDb: { url: string; drop: () => Promise<void> } | undefined,
  env: Record<string, string>,
  logs: string[],
): Promise<Instance> {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const config = loadConfig({
    TESSERA_DATA_DIR: dataDir,
    TESSERA_WORKER_POLL_MS: '20',
    TESSERA_RETRY_BASE_MS: '20',
    // Suites make many deliberate bad logins from one address; auth-abuse tests set their own budget.
    TESSERA_AUTH_FAILURES_MAX: '1000',
    LOG_LEVEL: 'info',
    ...(pgDb ? { DATABASE_URL: pgDb.url } : {}),
    ...env,
  });
  const deps = await buildDeps({ config, logger: createLogger('info', sink) });
  const app = await buildApp(deps);
  await app.ready();
  if (env.TESSERA_TEST_WORKER !== 'off') deps.worker.start();
  return {
    engine,
    deps,
    app,
    dataDir,
    databaseUrl: pgDb?.url,
    logs,
    async close() {
      await app.close();
      await deps.close();
      await pgDb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
    async restart(newEnv = env) {
      await app.close();
      await deps.close();
      return boot(engine, dataDir, pgDb, newEnv, logs);
    },
    async storedText() {
      if (engine === 'sqlite') {
        return readdirSync(dataDir)
          .filter((f) => f.startsWith('tessera.db'))
          .map((f) => readFileSync(join(dataDir, f)).toString('latin1'))
          .join('\n');
      }
      const c = new pg.Client({ connectionString: pgDb!.url });
      await c.connect();
      try {
        const { rows: tables } = await c.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
        const parts: string[] = [];
        for (const t of tables) parts.push(JSON.stringify((await c.query(`SELECT * FROM "${t.tablename}"`)).rows));
        return parts.join('\n');
      } finally {
        await c.end();
      }
    },
  };
}

/** Closes an instance and returns the test PANs found in its logs or its stored bytes (none, we hope). */
export async function closeAndScan(instance: Instance): Promise<string[]> {
  const leaked = findPans(instance.logs.join('\n') + (await instance.storedText()));
  await instance.close();
  return leaked;
}

export interface MerchantCredentials {
  id: string;
  publicKey: string;
  privateKey: string;
  webhookSecret: string;
  /** Hosted card fields' publishable key. */
  publishableKey: string | null;
  /** A live authorization token for the merchant face. */
  jwt: string;
}

/** Creates a merchant through the service and logs it in through the API, as a client would. */
export async function createMerchant(instance: Instance, name = 'Acme'): Promise<MerchantCredentials> {
  const m = await instance.deps.services.merchants.create({ name });
  const res = await instance.app.inject({
    method: 'POST',
    url: '/api/authorizations/token',
    headers: { authorization: 'Basic ' + Buffer.from(`${m.publicKey}:${m.privateKey}`).toString('base64') },
  });
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`);
  return { ...m, jwt: res.json().token };
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Sent as is (for malformed bodies). */
  raw?: string;
}

/** One request as a merchant: `Authorization: <jwt>`. Returns status and parsed body. */
export async function call(
  instance: Instance,
  jwt: string | undefined,
  method: 'GET' | 'POST' | 'DELETE' | 'PATCH' | 'PUT',
  url: string,
  opts: CallOptions = {},
): Promise<{ status: number; body: any; headers: Record<string, unknown>; text: string }> {
  const headers: Record<string, string> = { ...(jwt ? { authorization: jwt } : {}), ...opts.headers };
  let payload: string | undefined;
  if (opts.raw !== undefined) payload = opts.raw;
  else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  if (payload !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json';
  const res = await instance.app.inject({ method, url, headers, ...(payload !== undefined ? { payload } : {}) });
  let body: unknown = undefined;
  try {
    body = res.body ? JSON.parse(res.body) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, body, headers: res.headers as Record<string, unknown>, text: res.body };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
