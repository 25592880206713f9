// `npm run cluster`: the scale-out topology as plain processes on this machine — 2 API-only
// `tessera serve` (TESSERA_WORKER=off), 2 `tessera worker` (with /metrics on their own ports), one
// PostgreSQL, and nginx (Debian's `nginx-light`) in front on one port. The same topology as
// deploy/compose.yaml, with the same environment variables. Ctrl-C stops everything.
//
//   npm run cluster -- [--port 8080] [--apis 2] [--workers 2] [--database-url URL] [--data-dir DIR]
//
// Also a module: test/cluster.test.ts starts the cluster through `startCluster`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODE = join(ROOT, 'node_modules', '.bin', 'node');
const TESSERA = join(ROOT, 'bin', 'tessera.js');
/** Debian's nginx; not on a non-root PATH. `TESSERA_NGINX` names another. */
export const NGINX = process.env.TESSERA_NGINX ?? '/usr/sbin/nginx';
const HOST = '127.0.0.1';
/** The server the default database is created on. */
const PG_SERVER = 'postgres://postgres@127.0.0.1:5432';

export interface ClusterOptions {
  /** nginx's port: the cluster's one address. Default 8080 (0 = any free port). */
  port?: number;
  /** API-only `tessera serve` processes. Default 2. */
  apis?: number;
  /** `tessera worker` processes. Default 2. */
  workers?: number;
  /** PostgreSQL. Default: database `tessera_cluster` on postgres://postgres@127.0.0.1:5432, created if missing. */
  databaseUrl?: string;
  /** Shared data dir (the sandbox master key). Default `./data/cluster`. */
  dataDir?: string;
  /** Extra environment for every Tessera process (e.g. test timings). */
  env?: Record<string, string>;
  /** Where process output goes: `inherit` (the terminal) or `capture` (kept in memory, for tests). Default `inherit`. */
  output?: 'inherit' | 'capture';
}

/** One process of the cluster. */
export interface Member {
  name: string;
  role: 'api' | 'worker' | 'nginx';
  /** Its own port: the API port, the worker's metrics port, or nginx's. */
  port: number;
  child: ChildProcess;
  readonly pid: number;
  /** Whether it still runs. */
  alive(): boolean;
}

export interface Cluster {
  url: string;
  databaseUrl: string;
  dataDir: string;
  runDir: string;
  members: Member[];
  /** Environment of the Tessera processes (for one-shot commands like `merchants create`). */
  env: Record<string, string>;
  /** Captured output (with `output: 'capture'`). */
  output: string[];
  /** `tessera ARGS` as a one-shot command on the cluster's database. */
  run(args: string[]): { status: number | null; stdout: string; stderr: string };
  /** SIGKILL a member, as a crash would. */
  kill(member: Member): Promise<void>;
  /** The process table, as printed at start. */
  table(): string;
  /** SIGTERM everything (nginx last), wait for the exits. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, HOST);
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

/** Creates the default database when the URL names one that does not exist yet. */
async function ensureDatabase(url: string): Promise<void> {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) return;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const c = new pg.Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
}

export interface NginxOptions {
  /** nginx's port. */
  port: number;
  /** The API processes, `host:port`. */
  upstreams: string[];
  /**
   * `local` (npm run cluster): run as `nginx -p DIR -c DIR/nginx.conf`, pid, logs and temp files in
   * `dir`, listening on 127.0.0.1. `compose` (deploy/nginx.conf, the official image: it adds
   * `daemon off` itself): logs to the container's stdout/stderr, listening on every address.
   */
  mode: 'local' | 'compose';
  /** The run dir of `local` mode. */
  dir?: string;
}

/**
 * nginx in front of the API processes. Retries onto the other API process are limited to what is
 * safe to do twice:
 * - any request whose connection to a process failed before it was sent (refused: the process is
 *   gone) goes to the next one — nothing ran;
 * - GET/HEAD/PUT/DELETE that failed after being sent are retried too (idempotent methods);
 * - a POST that reached a process that then died is NOT replayed (nginx's default for
 *   non-idempotent methods): it may have done its work. Except when it carries an `Idempotency-Key`:
 *   Tessera de-duplicates those (the retry replays the stored answer, or waits for the key's claim
 *   to lapse — TESSERA_IDEMPOTENCY_LOCK_MS — and does the work once), so nginx may replay it.
 * Tessera's own 5xx answers (503 tsp_unavailable) are answers, never retried by nginx.
 */
export function nginxConfig(o: NginxOptions): string {
  const local = o.mode === 'local';
  const d = o.dir ?? '.';
  const head = local
    ? `daemon off;
worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
`
    : `worker_processes auto;
error_log /dev/stderr warn;
`;
  const files = local
    ? `  access_log ${d}/access.log tessera;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
`
    : `  access_log /dev/stdout tessera;
`;
  return `# Tessera behind nginx (${o.mode}), generated by scripts/cluster.ts (nginxConfig): keep the two in step.
${head}events { worker_connections 1024; }
http {
  # Never the URI: a path can hold a token (GET /api/tokens/:token). Which process(es) answered, and
  # how: "127.0.0.1:1, 127.0.0.1:2 502, 201" is a request nginx passed on.
  log_format tessera '$remote_addr [$time_iso8601] $request_method $status $body_bytes_sent $request_time '
                     'upstream=$upstream_addr status=$upstream_status';
${files}  # Issuer batch files reach 200 MB; nginx buffers bodies (so a safe retry can resend them).
  client_max_body_size 200m;

  upstream tessera_api {
${o.upstreams.map((u) => `    server ${u} max_fails=1 fail_timeout=2s;`).join('\n')}
    keepalive 64;
  }

  # A POST with an Idempotency-Key may be replayed on another process; one without may not.
  map "$request_method:$http_idempotency_key" $tessera_keyed_post {
    "~^POST:.+" 1;
    default 0;
  }

  server {
    listen ${local ? `${HOST}:` : ''}${o.port};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_connect_timeout 2s;
    proxy_read_timeout 60s;
    proxy_next_upstream_tries 2;
    proxy_next_upstream_timeout 30s;

    location / {
      error_page 418 = @keyed_post;
      if ($tessera_keyed_post) { return 418; }
      # nginx never passes a POST/PATCH on after it was sent (no non_idempotent flag).
      proxy_next_upstream error timeout;
      proxy_pass http://tessera_api;
    }

    location @keyed_post {
      # Idempotency-Key: Tessera does the work at most once; a dead connection may be replayed.
      proxy_next_upstream error non_idempotent;
      proxy_pass http://tessera_api;
    }
  }
}
`;
}

/** deploy/nginx.conf: the compose topology's nginx (api-1, api-2 on 8080). */
export const COMPOSE_NGINX = () => nginxConfig({ mode: 'compose', port: 8080, upstreams: ['api-1:8080', 'api-2:8080'] });

async function waitFor(url: string, member: Member, output: () => string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!member.alive()) throw new Error(`${member.name} exited before answering ${url}:\n${output().slice(-4000)}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${member.name} did not answer ${url} within ${ms / 1000} s:\n${output().slice(-4000)}`);
}

export async function startCluster(o: ClusterOptions = {}): Promise<Cluster> {
  if (!existsSync(NGINX)) throw new Error(`nginx not found at ${NGINX}: apt-get install nginx-light (or set TESSERA_NGINX).`);
  const databaseUrl = o.databaseUrl ?? process.env.DATABASE_URL ?? `${PG_SERVER}/tessera_cluster`;
  if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new Error('the cluster needs PostgreSQL: DATABASE_URL must be a postgres:// URL.');
  await ensureDatabase(databaseUrl);
  const dataDir = resolve(o.dataDir ?? join(ROOT, 'data', 'cluster'));
  mkdirSync(dataDir, { recursive: true });
  const runDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const port = o.port === undefined ? 8080 : o.port === 0 ? await freePort() : o.port;
  const url = `http://${HOST}:${port}`;
  const capture = o.output === 'capture';
  const output: string[] = [];
  const members: Member[] = [];

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    DATABASE_URL: databaseUrl,
    TESSERA_DATA_DIR: dataDir,
    TESSERA_PUBLIC_URL: url,
    TESSERA_TRUST_PROXY: HOST,
    HOST,
    ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
    ...(process.env.TESSERA_MASTER_KEY ? { TESSERA_MASTER_KEY: process.env.TESSERA_MASTER_KEY } : {}),
    ...o.env,
  };
  const run = (args: string[]) => {
    const r = spawnSync(NODE, [TESSERA, ...args], { env, cwd: ROOT, encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  // Once, before the processes: migrations (so four processes do not race them) and, in sandbox
  // mode, the master key every process then reads from the shared data dir.
  const migrated = run(['migrate']);
  if (migrated.status !== 0) throw new Error(`tessera migrate failed:\n${migrated.stderr}`);

  const spawnMember = (name: string, role: Member['role'], memberPort: number, cmd: string, args: string[], extra: Record<string, string>) => {
    const child = spawn(cmd, args, { env: { ...env, ...extra }, cwd: ROOT, stdio: ['ignore', capture ? 'pipe' : 'inherit', capture ? 'pipe' : 'inherit'] });
    if (capture) {
      const keep = (d: Buffer) => {
        output.push(`[${name}] ${d.toString()}`);
        if (output.length > 5000) output.splice(0, output.length - 5000);
      };
      child.stdout!.on('data', keep);
      child.stderr!.on('data', keep);
    }
    const member: Member = {
      name,
      role,
      port: memberPort,
      child,
      get pid() {
        return child.pid ?? -1;
      },
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    members.push(member);
    return member;
  };
  const tail = () => output.join('');

  const cluster: Cluster = {
    url,
    databaseUrl,
    dataDir,
    runDir,
    members,
    env,
    output,
    run,
    async kill(member) {
      if (!member.alive()) return;
      const exited = once(member.child, 'exit');
      member.child.kill('SIGKILL');
      await exited;
    },
    table() {
      const rows = members.map((m) => [m.name, String(m.pid), m.role === 'worker' ? `${HOST}:${m.port} (/metrics)` : `${HOST}:${m.port}`, m.alive() ? 'running' : 'stopped']);
      const head = ['process', 'pid', 'listens', 'state'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
    },
    async stop() {
      const tessera = members.filter((m) => m.role !== 'nginx');
      const stopOne = async (m: Member) => {
        if (!m.alive()) return;
        const exited = once(m.child, 'exit');
        m.child.kill(m.role === 'nginx' ? 'SIGQUIT' : 'SIGTERM');
        const timer = setTimeout(() => m.child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      };
      // Stop taking traffic first (nginx drains), then the Tessera processes.
      await Promise.all(members.filter((m) => m.role === 'nginx').map(stopOne));
      await Promise.all(tessera.map(stopOne));
      rmSync(runDir, { recursive: true, force: true });
    },
  };

  try {
    const apiPorts: number[] = [];
    const apis = o.apis ?? 2;
    const workers = o.workers ?? 2;
    for (let i = 1; i <= apis; i++) {
      const p = await freePort();
      apiPorts.push(p);
      spawnMember(`api-${i}`, 'api', p, NODE, [TESSERA, 'serve'], { PORT: String(p), TESSERA_WORKER: 'off' });
    }
    for (let i = 1; i <= workers; i++) {
      const p = await freePort();
      spawnMember(`worker-${i}`, 'worker', p, NODE, [TESSERA, 'worker'], { TESSERA_METRICS_PORT: String(p) });
    }
    await Promise.all(members.map((m) => waitFor(`http://${HOST}:${m.port}/ready`, m, tail)));
    writeFileSync(join(runDir, 'nginx.conf'), nginxConfig({ mode: 'local', dir: runDir, port, upstreams: apiPorts.map((p) => `${HOST}:${p}`) }));
    const test = spawnSync(NGINX, ['-t', '-q', '-p', runDir, '-c', join(runDir, 'nginx.conf')], { encoding: 'utf8' });
    if (test.status !== 0) throw new Error(`nginx refused its configuration:\n${test.stderr}`);
    const nginx = spawnMember('nginx', 'nginx', port, NGINX, ['-p', runDir, '-c', join(runDir, 'nginx.conf')], {});
    await waitFor(`${url}/ready`, nginx, () => tail() + nginxErrors(runDir));
    return cluster;
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

function nginxErrors(dir: string): string {
  const r = spawnSync('tail', ['-n', '20', join(dir, 'error.log')], { encoding: 'utf8' });
  return r.stdout ?? '';
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      apis: { type: 'string' },
      workers: { type: 'string' },
      'database-url': { type: 'string' },
      'data-dir': { type: 'string' },
      'compose-nginx': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values['compose-nginx']) {
    process.stdout.write(COMPOSE_NGINX());
    return;
  }
  if (values.help) {
    process.stdout.write(`npm run cluster -- [--port 8080] [--apis 2] [--workers 2] [--database-url URL] [--data-dir DIR]

Starts API-only tessera serve processes and tessera worker processes on one PostgreSQL behind nginx
(default database tessera_cluster on ${PG_SERVER}, created if missing; DATABASE_URL or --database-url
names another). Prints the URL and the process table; Ctrl-C stops everything. See docs/deploy.md.
`);
    return;
  }
  const count = (v: string | undefined, name: string, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a whole number.`);
    return n;
  };
  const cluster = await startCluster({
    port: count(values.port, 'port', 8080),
    apis: Math.max(1, count(values.apis, 'apis', 2)),
    workers: count(values.workers, 'workers', 2),
    databaseUrl: values['database-url'],
    dataDir: values['data-dir'],
  });
  process.stdout.write(`\nTessera cluster at ${cluster.url}  (database ${new URL(cluster.databaseUrl).pathname.slice(1)}, data dir ${cluster.dataDir})\n\n${cluster.table()}\n\nnginx config and logs: ${cluster.runDir}\nCreate a merchant: DATABASE_URL=${redact(cluster.databaseUrl)} TESSERA_DATA_DIR=${cluster.dataDir} npx tessera merchants create --name Acme\nCtrl-C stops everything.\n`);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nStopping the cluster…\n');
    await cluster.stop();
    process.stdout.write('Stopped.\n');
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // A member that dies on its own is reported (the others keep serving, as in production).
  for (const m of cluster.members) {
    m.child.once('exit', (code, signal) => {
      if (!stopping) process.stderr.write(`cluster: ${m.name} (pid ${m.pid}) exited (${signal ?? `code ${code}`})\n`);
    });
  }
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
