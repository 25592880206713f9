import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DatabaseSync } from 'node:sqlite';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import { createPgDatabase, eventually } from './harness.ts';
import type { Engine } from '../../src/storage/database.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin', 'tessera.js');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Tessera as separate processes on one data dir / database: `tessera serve`, `tessera worker`, one-shot commands. */
export async function processEnv(engine: Engine, extra: Record<string, string> = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-proc-'));
  const port = await freePort();
  const pgDb = engine === 'postgres' ? await createPgDatabase() : undefined;
  const env: Record<string, string> = { TESSERA_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', TESSERA_WORKER_POLL_MS: '20', ...extra };
  if (pgDb) env.DATABASE_URL = pgDb.url;
  const children: ChildProcess[] = [];
  const output: string[] = [];
  const base = `http://127.0.0.1:${port}`;

  const start = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => output.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => output.push(d.toString()));
    children.push(child);
    return child;
  };
  const stopped = (c: ChildProcess) => (c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', r)));

  return {
    env,
    base,
    output,
    run: (args: string[], more: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env, ...more }, cwd: ROOT, encoding: 'utf8' }),
    async serve() {
      const child = start(['serve']);
      await eventually(async () => ((await fetch(`${base}/health`).catch(() => undefined))?.ok ? true : undefined), 20_000, 'the server');
      return child;
    },
    worker: () => start(['worker']),
    /** Any command, in the background (its output also lands in `output`). */
    background: (args: string[]) => start(args),
    async kill9(c: ChildProcess) {
      c.kill('SIGKILL');
      await stopped(c);
    },
    /** Rows of a query on the instance's database (read directly, as an auditor would). */
    async query(text: string): Promise<Record<string, unknown>[]> {
      if (pgDb) {
        const c = new pg.Client({ connectionString: pgDb.url });
        await c.connect();
        try {
          return (await c.query(text)).rows;
        } finally {
          await c.end();
        }
      }
      const db = new DatabaseSync(join(dataDir, 'tessera.db'));
      try {
        return db.prepare(text).all() as Record<string, unknown>[];
      } finally {
        db.close();
      }
    },
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
      await Promise.all(children.map(stopped));
      await pgDb?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export type Processes = Awaited<ReturnType<typeof processEnv>>;

/** A merchant created with the CLI, as an operator would. */
export function createMerchantCli(p: Processes): { id: string; privateKey: string } {
  const res = p.run(['merchants', 'create', '--name', 'PSP', '--json']);
  if (res.status !== 0) throw new Error(`merchants create failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as { id: string; privateKey: string };
}

/** A `/cof/v1` call over HTTP. */
export async function http(p: Processes, m: { privateKey: string }, method: string, path: string, body?: unknown) {
  const res = await fetch(p.base + path, {
    method,
    headers: { authorization: `APIKEY ${m.privateKey}`, 'x-correlation-id': 'proc-test', ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as any };
}

export async function encryptOver(p: Processes, payload: unknown): Promise<string> {
  const jwk = ((await (await fetch(`${p.base}/cof/v1/keys`)).json()) as { keys: JWK[] }).keys[0]!;
  const key = await importJWK({ ...jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256');
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! }).encrypt(key);
}
