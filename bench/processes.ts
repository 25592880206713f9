// The bench's child processes: the bare baseline server and the real `tessera serve`, each in its
// own process so the load generator (the bench process) never shares their thread.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

/** The repository root (bench/..). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The Node.js the project pins. The system `node` may be too old to run Tessera. */
export const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const BARE = fileURLToPath(new URL('./bare-server.ts', import.meta.url));

/** Only loopback: the bench never sends traffic anywhere else. */
export const HOST = '127.0.0.1';

/** A started child: its base URL, and how to stop it (SIGTERM, then SIGKILL after a grace). */
export interface Target {
  name: string;
  url: string;
  pid: number;
  /** The tail of the child's stderr, for error messages. */
  stderr(): string;
  /** How the child ended (`exit code 1`, `signal SIGKILL`) if it has; undefined while it runs. */
  ended(): string | undefined;
  stop(): Promise<void>;
}

/**
 * A process's CPU time so far (user + system, all threads, from /proc; clock ticks are 100 Hz on
 * Linux), in ms: a cost per operation that depends far less on how busy the machine is than a rate.
 */
export function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the parenthesised command name (which may itself hold ") "): utime, stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

/**
 * A process's file I/O so far, all threads (`/proc/<pid>/io`): read and write calls, and bytes
 * through them (page cache included). Unlike time, these do not change with the machine's speed.
 */
export function processIo(pid: number): { readCalls: number; writeCalls: number; readBytes: number; writeBytes: number } {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const field = (name: string) => procField(io, name);
  return { readCalls: field('syscr'), writeCalls: field('syscw'), readBytes: field('rchar'), writeBytes: field('wchar') };
}

/** A process's resident memory from /proc, in MB: `VmRSS` now, or `VmHWM` its peak. */
export function processMemoryMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return procField(readFileSync(`/proc/${pid}/status`, 'utf8'), field) / 1024;
}

/** The number on the `name:` line of a /proc file's text (0 when absent). */
function procField(text: string, name: string): number {
  return Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

function track(name: string, child: ChildProcess, url: string): Target {
  let tail = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    tail = (tail + chunk).slice(-8192);
  });
  const exited = once(child, 'exit');
  let stopping = false;
  return {
    name,
    url,
    pid: child.pid ?? -1,
    stderr: () => tail,
    ended: () => {
      if (stopping || (child.exitCode === null && child.signalCode === null)) return undefined;
      return child.signalCode ? `signal ${child.signalCode}` : `exit code ${child.exitCode}`;
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill('SIGTERM');
      // A graceful exit matters: `--cpu-prof` writes its profile only then.
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function startBare(): Promise<Target> {
  const child = spawn(NODE, [BARE], { env: { PATH: process.env.PATH ?? '', HOST }, stdio: ['ignore', 'pipe', 'pipe'] });
  const target = track('bare', child, '');
  child.stdout.setEncoding('utf8');
  let buffer = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`bare server exited (${code}): ${target.stderr()}`)));
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      const line = buffer.split('\n')[0];
      if (buffer.includes('\n') && line) resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { ...target, url: `http://${HOST}:${port}` };
}

/** The environment of a Tessera process: the defaults, except where the bench must choose. */
function tesseraEnv(dataDir: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TESSERA_DATA_DIR: dataDir, ...extra };
}

export interface MerchantKeys {
  id: string;
  publicKey: string;
  privateKey: string;
}

/** `tessera merchants create --json` in the bench's data dir (migrates it on the way). */
export async function createMerchant(dataDir: string): Promise<MerchantKeys> {
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(NODE, [TESSERA, 'merchants', 'create', '--name', 'Bench', '--json'], { env: tesseraEnv(dataDir, {}), cwd: ROOT }, (err, out, errOut) =>
      err ? reject(new Error(`merchants create failed: ${err.message}\n${errOut}`)) : resolve(out),
    );
  });
  return JSON.parse(stdout) as MerchantKeys;
}

export interface TesseraOptions {
  dataDir: string;
  /** `LOG_LEVEL` of the server; undefined leaves it unset (the default, `info`). */
  logLevel: string | undefined;
  /** Where the server's stdout (its log lines) goes: a file, as a log collector would read it. */
  logFile: string;
  /** Extra flags for the child's node, e.g. `--cpu-prof`. */
  nodeFlags: string[];
}

export async function startTessera(options: TesseraOptions): Promise<Target> {
  const port = await freePort();
  const env = tesseraEnv(options.dataDir, { PORT: String(port), HOST, ...(options.logLevel ? { LOG_LEVEL: options.logLevel } : {}) });
  const logFd = openSync(options.logFile, 'a');
  const child = spawn(NODE, [...options.nodeFlags, TESSERA, 'serve'], { env, cwd: ROOT, stdio: ['ignore', logFd, 'pipe'] });
  closeSync(logFd);
  const target = track(`tessera`, child, `http://${HOST}:${port}`);
  await waitForHealth(target, child);
  return target;
}

async function waitForHealth(target: Target, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`tessera exited (${child.exitCode}) before serving:\n${target.stderr()}`);
    try {
      const res = await fetch(`${target.url}/health`);
      if (res.status === 200) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await target.stop();
  throw new Error(`tessera did not answer GET /health within 30 s:\n${target.stderr()}`);
}

/** `POST /api/authorizations/token` with the merchant's key pair → the JWT for `/api` calls. */
export async function authorize(baseUrl: string, keys: MerchantKeys): Promise<string> {
  const basic = Buffer.from(`${keys.publicKey}:${keys.privateKey}`).toString('base64');
  const res = await fetch(`${baseUrl}/api/authorizations/token`, { method: 'POST', headers: { authorization: `Basic ${basic}` } });
  if (res.status !== 200) throw new Error(`authorization failed: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}
