// `npm run soak -- [--minutes N] [--users N]`: mixed traffic over the three faces against a throwaway
// PostgreSQL cluster of its own (never the machine's shared server), served by separate `tessera
// serve` and `tessera worker` processes, while that PostgreSQL is restarted and stopped/started and
// the worker is SIGKILLed and started again. Afterwards: every accepted request has its outcome,
// every notification reached the local receiver, no job is stuck. Prints throughput, error counts
// and p50/p99 before, during and after the faults. Not part of `npm test`.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { CompactEncrypt, SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import { HOST, NODE, ROOT, freePort } from './processes.ts';

const { values: args } = parseArgs({ options: { minutes: { type: 'string', default: '10' }, users: { type: 'string', default: '8' } } });
const MINUTES = Number(args.minutes);
const USERS = Number(args.users);
const TESSERA = join(ROOT, 'bin', 'tessera.js');
const PG_BIN = '/usr/lib/postgresql/15/bin';
const asRoot = process.getuid?.() === 0;

// ---------- the throwaway PostgreSQL cluster ----------
const pgDir = mkdtempSync(join(tmpdir(), 'tessera-soak-pg-'));
const pgPort = await freePort();
function pgCmd(bin: string, argv: string[]): string {
  const [cmd, rest] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(PG_BIN, bin), ...argv]] : [join(PG_BIN, bin), argv];
  return execFileSync(cmd, rest as string[], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
if (asRoot) {
  chmodSync(pgDir, 0o700);
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  chownSync(pgDir, uid, gid);
}
const pgData = join(pgDir, 'data');
const pgStart = () => pgCmd('pg_ctl', ['-D', pgData, '-l', join(pgDir, 'log'), '-w', '-o', `-p ${pgPort} -k ${pgDir} -c listen_addresses=${HOST} -c max_connections=200 -c fsync=off`, 'start']);
const pgStop = (mode: string) => pgCmd('pg_ctl', ['-D', pgData, '-m', mode, '-w', 'stop']);
pgCmd('initdb', ['-D', pgData, '-A', 'trust', '-U', 'postgres', '--no-sync']);
pgStart();

const admin = new pg.Client({ connectionString: `postgres://postgres@${HOST}:${pgPort}/postgres` });
await admin.connect();
await admin.query('CREATE DATABASE tessera_soak');
await admin.end();
const DATABASE_URL = `postgres://postgres@${HOST}:${pgPort}/tessera_soak`;
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-soak-'));
const MASTER = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64');
const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TESSERA_DATA_DIR: dataDir, DATABASE_URL, TESSERA_MASTER_KEY: MASTER, TESSERA_RETRY_BASE_MS: '200', LOG_LEVEL: 'warn', TESSERA_AUTH_FAILURES_MAX: '100000' };
let t0 = Date.now();
const children: ChildProcess[] = [];
/** Exits the soak caused on purpose (the SIGKILL, the final SIGTERM); any other exit is a failure. */
const expectedExits = new Set<ChildProcess>();
const unexpectedExits: string[] = [];
const events: string[] = [];
let stopping = false;
let worker: ChildProcess;
// Whatever happens (a failed check, a crash, Ctrl-C), the throwaway cluster and the children go.
let cleaned = false;
process.on('exit', () => {
  if (cleaned) return;
  for (const c of children) c.kill('SIGKILL');
  try {
    pgStop('immediate');
  } catch {
    // Already stopped.
  }
  rmSync(pgDir, { recursive: true, force: true });
  rmSync(dataDir, { recursive: true, force: true });
});
process.once('SIGINT', () => process.exit(130));

function cli(argv: string[]): any {
  return JSON.parse(execFileSync(NODE, [TESSERA, ...argv, '--json'], { env: baseEnv, cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}
/**
 * Starts `tessera serve` or `tessera worker`. A worker that exits before it is running (it could not
 * reach PostgreSQL while starting: it fails fast by design) is started again, as its supervisor
 * would; any other exit the soak did not cause fails the run.
 */
function start(kind: 'serve' | 'worker', port?: number): ChildProcess {
  const env = { ...baseEnv, ...(kind === 'worker' ? { LOG_LEVEL: 'info' } : {}), ...(port ? { PORT: String(port), HOST } : {}) };
  const child = spawn(NODE, [TESSERA, kind], { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let tail = '';
  let running = kind === 'serve';
  child.stderr?.setEncoding('utf8').on('data', (c: string) => (tail = (tail + c).slice(-2000)));
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    if (c.includes('tessera worker is running')) running = true;
  });
  child.on('exit', (code, signal) => {
    if (expectedExits.has(child)) return;
    const at = ((Date.now() - t0) / 1000).toFixed(1);
    if (!running && !stopping) {
      events.push(`${at}s worker could not start (${tail.trim().split('\n').pop()}): started again`);
      worker = start('worker');
      return;
    }
    unexpectedExits.push(`${at}s tessera ${kind} (pid ${child.pid}) exited: ${signal ?? `code ${code}`}; stderr: ${tail.trim().split('\n').slice(-3).join(' | ')}`);
  });
  return child;
}

// ---------- a receiver counting notifications by delivery id ----------
const received = new Set<string>();
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = (req.headers['webhook-id'] ?? req.headers['x-pay-webhook-id']) as string | undefined;
    if (id) received.add(id);
    res.writeHead(200).end('ok');
  });
});
receiver.listen(0, HOST);
await once(receiver, 'listening');
const receiverUrl = `http://${HOST}:${(receiver.address() as { port: number }).port}`;

// ---------- tenants ----------
const merchant = cli(['merchants', 'create', '--name', 'Soak', '--notify-url', `${receiverUrl}/cof`]);
const sig = await generateKeyPair('ES256', { extractable: true });
const sigJwk = { ...(await exportJWK(sig.publicKey)), kid: 'soak-sig', use: 'sig', alg: 'ES256' };
const enc = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
const encJwk = { ...(await exportJWK(enc.publicKey)), kid: 'soak-enc', use: 'enc', alg: 'ECDH-ES' };
writeFileSync(join(dataDir, 'issuer.jwks.json'), JSON.stringify({ keys: [sigJwk, encJwk] }));
const issuer = cli(['issuers', 'create', '--name', 'Soak Bank', '--jwk-file', join(dataDir, 'issuer.jwks.json'), '--notify-url', `${receiverUrl}/d1`]);

const apiPort = await freePort();
start('serve', apiPort);
worker = start('worker');
const BASE = `http://${HOST}:${apiPort}`;
for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${BASE}/health`)).ok) break;
  } catch {}
  if (i > 300) throw new Error('tessera serve did not start');
  await new Promise((r) => setTimeout(r, 100));
}

async function http(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${BASE}${path}`, { method, headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(15_000) });
  const text = await res.text();
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json };
}

const basic = 'Basic ' + Buffer.from(`${merchant.publicKey}:${merchant.privateKey}`).toString('base64');
const jwt = (await http('POST', '/api/authorizations/token', { authorization: basic })).json.token as string;
const M = { authorization: jwt };
const C = { authorization: `APIKEY ${merchant.privateKey}`, 'x-correlation-id': 'soak' };
await http('POST', '/api/webhooks', M, { url: `${receiverUrl}/hooks`, events: ['orders.create', 'orders.update', 'orders.confirmation', 'tokens.create'] });
const rsa = await generateKeyPair('RSA-OAEP-256', { extractable: true });
await http('PATCH', `/cof/v1/merchants/${merchant.id}`, C, { jwks: { keys: [{ ...(await exportJWK(rsa.publicKey)), kid: 'soak-rsa', use: 'enc', alg: 'RSA-OAEP-256' }] } });
const cofJwk = (await http('GET', '/cof/v1/keys', {})).json.keys[0] as JWK;
const cofKey = await importJWK({ ...cofJwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256');
const bankJwk = (await http('GET', '/banking/v1/keys', {})).json.keys[0] as JWK;
const bankKey = await importJWK(bankJwk, 'ECDH-ES');

let issuerToken = '';
async function issuerLogin(): Promise<void> {
  const assertion = await new SignJWT({ jti: crypto.randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'soak-sig' }).setIssuer(issuer.issuerId).setIssuedAt().setExpirationTime('5m').sign(sig.privateKey);
  const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion });
  const res = await fetch(`${BASE}/authz/v1/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  if (res.ok) issuerToken = ((await res.json()) as { access_token: string }).access_token;
}
await issuerLogin();
const B = () => ({ authorization: `Bearer ${issuerToken}` });
const IP = `/banking/v1/issuers/${issuer.issuerId}`;
const issuerCards: string[] = [];
for (let i = 0; i < 8; i++) {
  await http('PUT', `${IP}/consumers/soak-c${i}`, B(), { personalInformation: { firstName: 'Ada', lastName: 'Soak', email: 'ada@example.com' } });
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ pan: i % 2 ? '5555555555554444' : '4242424242424242', exp: '1230' }))).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: bankJwk.kid! }).encrypt(bankKey);
  const r = await http('PUT', `${IP}/cards/soak-card${i}`, B(), { consumerId: `soak-c${i}`, encryptedData: jwe });
  if (r.status < 300) issuerCards.push(`soak-card${i}`);
}

// ---------- traffic ----------
t0 = Date.now();
type Phase = 'before' | 'during' | 'after';
const totalMs = MINUTES * 60_000;
const phaseOf = (t: number): Phase => (t - t0 < totalMs / 3 ? 'before' : t - t0 < (2 * totalMs) / 3 ? 'during' : 'after');
const samples: Record<Phase, { ms: number[]; errors: Record<string, number>; ok: number }> = {
  before: { ms: [], errors: {}, ok: 0 },
  during: { ms: [], errors: {}, ok: 0 },
  after: { ms: [], errors: {}, ok: 0 },
};
const accepted = { orders: [] as string[], cofTokens: [] as string[], issuerTokens: [] as string[], transactions: 0 };

async function timed(op: string, fn: () => Promise<{ status: number; json: any }>): Promise<{ status: number; json: any } | undefined> {
  const start = Date.now();
  let res: { status: number; json: any } | undefined;
  try {
    res = await fn();
  } catch (err) {
    res = undefined;
    const p = samples[phaseOf(start)];
    p.errors[`${op}:network`] = (p.errors[`${op}:network`] ?? 0) + 1;
    return undefined;
  }
  const p = samples[phaseOf(start)];
  p.ms.push(Date.now() - start);
  if (res.status >= 200 && res.status < 300) p.ok++;
  else p.errors[`${op}:${res.status}`] = (p.errors[`${op}:${res.status}`] ?? 0) + 1;
  return res;
}

async function merchantFlow(): Promise<void> {
  const tok = await timed('token', () => http('POST', '/api/tokens', M, { number: '4242424242424242', name: 'Ada Soak', exp_month: '12', exp_year: '2034', cvc: '123' }));
  if (tok?.status !== 201) return;
  const order = await timed('order', () => http('POST', '/api/orders', M, { currency: 'MXN', items: [{ name: 'Soak', quantity: 1, price: 10 }], token: tok.json.token }));
  if (order?.status === 201) accepted.orders.push(order.json.id);
}
async function cofFlow(i: number): Promise<void> {
  const payload = { fpan: i % 2 ? '5555555555554444' : '4242424242424242', exp: '1234', name: 'Ada Soak', cvv: '123', accountId: `acct-${i % 50}` };
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: cofJwk.kid! }).encrypt(cofKey);
  const nt = await timed('cof-token', () => http('POST', '/cof/v1/tokens', C, { merchantId: merchant.id, encryptedData: jwe, source: 'ON_FILE' }));
  if (nt?.status !== 201) return;
  accepted.cofTokens.push(nt.json.tokenId);
  const tx = await timed('cof-transaction', () => http('POST', '/cof/v1/transactions', C, { tokenId: nt.json.tokenId, transactionType: 'SINGLE' }));
  if (tx?.status === 201) accepted.transactions++;
}
async function issuerFlow(i: number): Promise<void> {
  const card = issuerCards[i % issuerCards.length];
  if (!card) return;
  const r = await timed('issuer-token', () => http('POST', `${IP}/cards/${card}/tokens`, B(), undefined));
  if (r?.status === 201) accepted.issuerTokens.push(r.json.tokenId);
  else if (r?.status === 401) await issuerLogin().catch(() => {});
}

let stop = false;
async function user(u: number): Promise<void> {
  for (let i = u; !stop; i += USERS) {
    const kind = i % 3;
    if (kind === 0) await merchantFlow();
    else if (kind === 1) await cofFlow(i);
    else await issuerFlow(i);
  }
}

// ---------- faults ----------
const at = (fraction: number, what: string, fn: () => void | Promise<void>) =>
  new Promise<void>((resolve) => setTimeout(async () => {
    const s = ((Date.now() - t0) / 1000).toFixed(1);
    try { await fn(); events.push(`${s}s ${what}`); } catch (err) { events.push(`${s}s ${what} FAILED: ${(err as Error).message}`); }
    resolve();
  }, totalMs * fraction));
const refresh = setInterval(() => void issuerLogin().catch(() => {}), 120_000);
const users = Array.from({ length: USERS }, (_, u) => user(u));
const faults = Promise.all([
  at(0.36, 'worker SIGKILL', () => { expectedExits.add(worker); worker.kill('SIGKILL'); }),
  at(0.40, 'worker started again', () => { worker = start('worker'); }),
  at(0.45, 'PostgreSQL restart (pg_ctl restart -m fast)', () => { pgStop('fast'); pgStart(); }),
  at(0.55, 'PostgreSQL stopped (-m immediate) for 5 s, then started', async () => { pgStop('immediate'); await new Promise((r) => setTimeout(r, 5000)); pgStart(); }),
]);
await new Promise((r) => setTimeout(r, totalMs));
stop = true;
await Promise.all(users);
await faults;
clearInterval(refresh);

// ---------- afterwards ----------
const db = new pg.Client({ connectionString: DATABASE_URL });
await db.connect();
const settleDeadline = Date.now() + 120_000;
let pendingDeliveries = 0;
for (;;) {
  pendingDeliveries = Number((await db.query(`SELECT count(*) AS n FROM deliveries WHERE status = 'pending'`)).rows[0].n);
  if (pendingDeliveries === 0 || Date.now() > settleDeadline) break;
  await new Promise((r) => setTimeout(r, 1000));
}
const deliveries = (await db.query(`SELECT id, status FROM deliveries`)).rows as { id: string; status: string }[];
const notReceived = deliveries.filter((d) => !received.has(d.id)).length;
const byStatus = Object.fromEntries(Object.entries(Object.groupBy(deliveries, (d) => d.status)).map(([k, v]) => [k, v!.length]));
const now = Date.now();
const stuck = (await db.query(`SELECT task, status, count(*) AS n FROM jobs WHERE (status = 'running' AND locked_until < $1) OR (status = 'pending' AND run_at < $2) OR status = 'dead' GROUP BY task, status`, [now, now - 60_000])).rows;
await db.end();

let missingOutcomes = 0;
for (const id of accepted.orders) if ((await http('GET', `/api/orders/${id}`, M)).json?.status !== 'paid') missingOutcomes++;
for (const id of accepted.cofTokens) if ((await http('GET', `/cof/v1/tokens/${id}`, C)).json?.tokenStatus !== 'ACTIVE') missingOutcomes++;
await issuerLogin();
for (const id of accepted.issuerTokens) if ((await http('GET', `${IP}/tokens/${id}`, B())).status !== 200) missingOutcomes++;

stopping = true;
for (const c of children) expectedExits.add(c);
for (const c of children) c.kill('SIGTERM');
await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)));
receiver.close();
pgStop('fast');
rmSync(pgDir, { recursive: true, force: true });
rmSync(dataDir, { recursive: true, force: true });
cleaned = true;

const pct = (v: number[], p: number) => { const s = [...v].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((s.length * p) / 100) - 1)] ?? 0; };
const phaseS = totalMs / 3000;
console.log(`soak: ${MINUTES} min, ${USERS} users, PostgreSQL on port ${pgPort} (throwaway), 1 tessera serve + 1 tessera worker`);
console.log('faults:', events.join('; '));
console.log('| phase | requests | ok/s | errors | p50 ms | p99 ms |\n| --- | --- | --- | --- | --- | --- |');
for (const phase of ['before', 'during', 'after'] as Phase[]) {
  const s = samples[phase];
  const errs = Object.values(s.errors).reduce((a, b) => a + b, 0);
  const network = Object.entries(s.errors).filter(([k]) => k.endsWith(':network')).reduce((a, [, n]) => a + n, 0);
  console.log(`| ${phase} | ${s.ms.length + network} | ${(s.ok / phaseS).toFixed(1)} | ${errs} ${JSON.stringify(s.errors)} | ${pct(s.ms, 50)} | ${pct(s.ms, 99)} |`);
}
console.log(`accepted: ${accepted.orders.length} paid orders, ${accepted.cofTokens.length} network tokens (${accepted.transactions} transactions), ${accepted.issuerTokens.length} issuer tokens; without their outcome: ${missingOutcomes}`);
console.log(`notifications: ${deliveries.length} deliveries ${JSON.stringify(byStatus)}, received ${received.size}, not received ${notReceived}; stuck or dead jobs: ${JSON.stringify(stuck)}`);
console.log(`unexpected process exits: ${unexpectedExits.length === 0 ? 'none' : unexpectedExits.join('; ')}`);
const failed = unexpectedExits.length > 0 || missingOutcomes > 0 || notReceived > 0 || pendingDeliveries > 0 || stuck.length > 0;
console.log(failed ? 'SOAK FAILED' : 'SOAK PASSED');
process.exit(failed ? 1 : 0);
