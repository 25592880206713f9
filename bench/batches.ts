// Card-on-file batch benchmark (issue 5), runnable alone:
//   node bench/batches.ts [--mode throughput|fairness|both] [--records N] [--fair-records N] [--cap N]
// throughput: N records (default 1,000,000) in chunks of 10,000 through POST /cof/v1/batches to a fresh
//   `tessera serve` with no issuer caps and sandbox latency 0. Reports records/s end to end (first byte
//   of the first chunk → COMPLETED), records/s of processing alone (the records not yet done when
//   the last chunk was accepted, over the time from then to COMPLETED, i.e. once every chunk's JWE is
//   decrypted and stored; `doneAtIntake` says how many were done before), the server's CPU time per
//   record (user + system from /proc: steadier than records/s on a shared machine; records are
//   processed while later chunks arrive, so most of it is spent before the last chunk), its file I/O
//   per record after intake (read/write calls and KB from /proc/<pid>/io: WAL, database and
//   checkpoints, unmoved by the machine's speed: compare runs by it first) and its peak RSS
//   (VmHWM). Targets: ≥ 10,000 records/s once decrypted, ≤ 300 MB. Both modes also report the
//   server's error-level log lines (`serverErrors`, the first three on stderr): a fast run with errors is not a good run.
// fairness: 50,000 records, 40 % on one issuer BIN and the rest over nine others, a sandbox cap of
//   1,000 requests/s per issuer. The floor is the busiest issuer's share ÷ cap (20 s). Reports
//   makespan (completedAt − startedAt) ÷ floor, throttled calls and each issuer's peak second from
//   GET /sandbox/v1/stats. Targets: ≤ 1.3×, ≤ 50 throttles, every peak ≤ 110 % of the cap.
// The embedded SQLite is the default; DATABASE_URL selects a PostgreSQL; NODE_OPTIONS is passed to the
// server (e.g. --cpu-prof; a heap flag there replaces `tessera serve`'s own heap defaults, see
// docs/configuration.md "Memory"). Only 127.0.0.1 is used.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { CompactEncrypt, importJWK, type CryptoKey, type JWK } from 'jose';
import pg from 'pg';
import { buildDeps } from '../src/deps.ts';
import type { BatchView } from '../src/services/batches.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { BINS, cardOf, skewedRecords } from '../test/support/batches.ts';
import { processCpuMs, processIo, processMemoryMb } from './processes.ts';

const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const TARGETS = { recordsPerS: 10_000, rssMb: 300, makespanRatio: 1.3, throttled: 50, peakOverCap: 1.1 };
const CHUNK = 10_000;
const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'both' },
    records: { type: 'string', default: '1000000' },
    'fair-records': { type: 'string', default: '50000' },
    cap: { type: 'string', default: '1000' },
  },
});
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A fresh database for one run: a data dir, and on PostgreSQL a new database beside DATABASE_URL's. */
async function freshStore(): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-cofbatch-'));
  const base = process.env.DATABASE_URL;
  if (!base) return { env: { TESSERA_DATA_DIR: dataDir }, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  const name = `tessera_bench_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    env: { TESSERA_DATA_DIR: dataDir, DATABASE_URL: url.toString() },
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

interface Run {
  base: string;
  auth: Record<string, string>;
  merchantId: string;
  server: ChildProcess;
  rssMb(field: 'VmHWM' | 'VmRSS'): number;
  /** The server's CPU time so far (user + system), ms. */
  cpuMs(): number;
  io(): ReturnType<typeof processIo>;
  /** The server's error-level log lines so far. */
  errors(): string[];
  encrypt(payload: unknown): Promise<string>;
  stop(): Promise<void>;
}

async function startRun(extraEnv: Record<string, string>): Promise<Run> {
  const store = await freshStore();
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}), ...store.env, ...extraEnv };
  // The merchant, in-process (as `tessera merchants create` does), before the server opens the store.
  const deps = await buildDeps({ config: loadConfig(env), logger: createLogger('warn', process.stderr) });
  const merchant = await deps.services.merchants.create({ name: 'Bench PSP' });
  await deps.close();

  const port = await freePort();
  // The server's log is kept: a run whose server logged errors is reported as such, not only by its speed.
  const logFile = join(store.env.TESSERA_DATA_DIR!, 'server.log');
  const logFd = openSync(logFile, 'w');
  const server = spawn(NODE, [TESSERA, 'serve'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', logFd, 'inherit'] });
  closeSync(logFd);
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await request(`${base}/health`)).statusCode === 200) break;
    } catch {}
    if (server.exitCode !== null) throw new Error('the server exited at start');
    if (i > 400) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const jwks = (await (await request(`${base}/cof/v1/keys`)).body.json()) as { keys: JWK[] };
  const jwk = jwks.keys[0]!;
  const key = (await importJWK({ ...jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256')) as CryptoKey;
  return {
    base,
    auth: { authorization: `APIKEY ${merchant.privateKey}` },
    merchantId: merchant.id,
    server,
    rssMb: (field) => processMemoryMb(server.pid!, field),
    cpuMs: () => processCpuMs(server.pid!),
    io: () => processIo(server.pid!),
    errors: () => readFileSync(logFile, 'utf8').split('\n').filter((line) => /"level":(50|60)\b/.test(line)),
    encrypt: (payload) => new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! }).encrypt(key),
    async stop() {
      if (server.exitCode === null) {
        server.kill('SIGTERM');
        await once(server, 'exit');
      }
      await store.drop();
    },
  };
}

async function postChunk(run: Run, batchId: string, encryptedData: string, last: boolean): Promise<BatchStatus> {
  const res = await request(`${run.base}/cof/v1/batches`, {
    method: 'POST',
    headers: { ...run.auth, 'content-type': 'application/json', 'x-correlation-id': `bench-${batchId}` },
    body: JSON.stringify({ merchantId: run.merchantId, batchId, last, encryptedData }),
    headersTimeout: 0,
    bodyTimeout: 0,
  });
  const text = await res.body.text();
  if (res.statusCode !== 202) throw new Error(`chunk refused: ${res.statusCode} ${text}`);
  return JSON.parse(text) as BatchStatus;
}

type BatchStatus = BatchView;

async function waitCompleted(run: Run, batchId: string, total: number, onTick?: () => void): Promise<BatchStatus> {
  let last = performance.now();
  for (;;) {
    const res = await request(`${run.base}/cof/v1/batches/${batchId}`, { headers: { ...run.auth, 'x-correlation-id': 'bench-poll' } });
    const s = (await res.body.json()) as BatchStatus;
    if (s.status === 'COMPLETED') return s;
    if (run.server.exitCode !== null) throw new Error('the server died');
    if (performance.now() - last > 5000) {
      last = performance.now();
      log(`${s.processed}/${total} processed, RSS ${run.rssMb('VmRSS').toFixed(0)} MB`);
      onTick?.();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function throughput(n: number) {
  log(`throughput: ${n} records in chunks of ${CHUNK}, no caps, sandbox latency 0`);
  const run = await startRun({ TESSERA_SANDBOX_ISSUER_TPS: '0', TESSERA_BATCH_ISSUER_TPS: '0', TESSERA_SANDBOX_LATENCY_MS: '0' });
  try {
    const idleMb = run.rssMb('VmRSS');
    // Encrypt the next chunk while the previous one is in flight: the client's RSA and JSON work overlaps the server's.
    // Every record a distinct card (and account) spread evenly over ten issuers: no token reuse shortcuts.
    const chunkOf = (i: number) =>
      run.encrypt({ records: Array.from({ length: Math.min(CHUNK, n - i) }, (_, j) => ({ rowId: `r${i + j}`, fpan: cardOf(BINS[(i + j) % BINS.length]!, i + j), exp: '1234', accountId: `acct-${i + j}` })) });
    const c0 = run.cpuMs();
    const t0 = performance.now();
    let next = chunkOf(0);
    let accepted: BatchStatus | undefined;
    for (let i = 0; i < n; i += CHUNK) {
      const data = await next;
      if (i + CHUNK < n) next = chunkOf(i + CHUNK);
      accepted = await postChunk(run, 'BENCH-1M', data, i + CHUNK >= n);
    }
    // How many records were done when the last chunk was accepted (its 202 carries the batch's status).
    const doneAtIntake = accepted?.processed ?? 0;
    const t1 = performance.now();
    const c1 = run.cpuMs();
    const io1 = run.io();
    log(`all chunks accepted in ${((t1 - t0) / 1000).toFixed(1)} s`);
    const done = await waitCompleted(run, 'BENCH-1M', n);
    const t2 = performance.now();
    const c2 = run.cpuMs();
    const io2 = run.io();
    const perRecord = (a: number, b: number, unit = 1) => +((b - a) / unit / n).toFixed(2);
    const peakMb = run.rssMb('VmHWM');
    const errors = run.errors();
    for (const line of errors.slice(0, 3)) log(`server error: ${line}`);
    const endToEnd = n / ((t2 - t0) / 1000);
    // Once every chunk's JWE was decrypted (and its records stored): the records still waiting then,
    // over the time they took. (All n records over that time flatters it by those done during intake.)
    const afterIntake = (n - doneAtIntake) / ((t2 - t1) / 1000);
    return {
      records: n,
      succeeded: done.succeeded,
      failed: done.failed,
      endToEndS: +((t2 - t0) / 1000).toFixed(1),
      intakeS: +((t1 - t0) / 1000).toFixed(1),
      recordsPerS: Math.round(endToEnd),
      doneAtIntake,
      recordsPerSAfterIntake: Math.round(afterIntake),
      // The server's CPU per record (user + system): steadier than records/s on a shared machine.
      serverCpuUsPerRecord: Math.round(((c2 - c0) * 1000) / n),
      serverCpuUsPerRecordAfterIntake: Math.round(((c2 - c1) * 1000) / n),
      // The server's file I/O per record after intake (WAL, database, checkpoints): steadier still.
      serverIoPerRecordAfterIntake: {
        readCalls: perRecord(io1.readCalls, io2.readCalls),
        writeCalls: perRecord(io1.writeCalls, io2.writeCalls),
        readKb: perRecord(io1.readBytes, io2.readBytes, 1024),
        writeKb: perRecord(io1.writeBytes, io2.writeBytes, 1024),
      },
      peakRssMb: Math.round(peakMb),
      idleRssMb: Math.round(idleMb),
      serverErrors: errors.length,
      targets: {
        // The issue's target counts once the per-chunk JWE is decrypted: after intake.
        recordsPerSAfterIntake: afterIntake >= TARGETS.recordsPerS ? 'met' : 'missed',
        rss: peakMb <= TARGETS.rssMb ? 'met' : 'missed',
      },
    };
  } finally {
    await run.stop();
  }
}

async function fairness(n: number, cap: number) {
  const bigShare = 0.4;
  const floorS = (n * bigShare) / cap;
  log(`fairness: ${n} records, ${bigShare * 100} % on BIN ${BINS[0]}, the rest over ${BINS.length - 1} others; cap ${cap}/s per issuer; floor ${floorS} s`);
  const run = await startRun({ TESSERA_SANDBOX_ISSUER_TPS: String(cap), TESSERA_SANDBOX_LATENCY_MS: '0' });
  try {
    const records = skewedRecords(n, bigShare);
    // Interleave issuers in the submitted order the way a real base arrives (not sorted by BIN).
    for (let i = records.length - 1; i > 0; i--) {
      const j = (i * 7919) % (i + 1);
      [records[i], records[j]] = [records[j]!, records[i]!];
    }
    const chunks: string[] = [];
    for (let i = 0; i < n; i += CHUNK) chunks.push(await run.encrypt({ records: records.slice(i, i + CHUNK) }));
    for (const [i, c] of chunks.entries()) await postChunk(run, 'BENCH-FAIR', c, i === chunks.length - 1);
    const done = await waitCompleted(run, 'BENCH-FAIR', n);
    const makespanS = (Date.parse(done.completedAt!) - Date.parse(done.startedAt)) / 1000;
    const stats = (await (await request(`${run.base}/sandbox/v1/stats`, { headers: { ...run.auth, 'x-correlation-id': 'bench-stats' } })).body.json()) as {
      issuers: Record<string, { requests: number; throttled: number; maxPerSecond: number }>;
    };
    const issuers = Object.entries(stats.issuers);
    const throttled = issuers.reduce((a, [, s]) => a + s.throttled, 0);
    const peak = Math.max(...issuers.map(([, s]) => s.maxPerSecond));
    const ratio = makespanS / floorS;
    return {
      records: n,
      succeeded: done.succeeded,
      failed: done.failed,
      capPerS: cap,
      floorS,
      makespanS: +makespanS.toFixed(2),
      makespanOverFloor: +ratio.toFixed(3),
      throttled,
      peakPerSecond: peak,
      peakOverCap: +(peak / cap).toFixed(3),
      issuers: issuers.length,
      serverErrors: run.errors().length,
      targets: {
        makespan: ratio <= TARGETS.makespanRatio ? 'met' : 'missed',
        throttled: throttled <= TARGETS.throttled ? 'met' : 'missed',
        peak: peak <= cap * TARGETS.peakOverCap ? 'met' : 'missed',
      },
    };
  } finally {
    await run.stop();
  }
}

const engine = process.env.DATABASE_URL ? 'postgres' : 'sqlite';
const out: Record<string, unknown> = { engine };
if (args.mode === 'fairness' || args.mode === 'both') {
  out.fairness = await fairness(Number(args['fair-records']), Number(args.cap));
  log(`fairness: ${JSON.stringify(out.fairness)}`);
}
if (args.mode === 'throughput' || args.mode === 'both') {
  out.throughput = await throughput(Number(args.records));
  log(`throughput: ${JSON.stringify(out.throughput)}`);
}
process.stdout.write(JSON.stringify(out) + '\n');
