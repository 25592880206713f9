// Issuer batch-file benchmark (issue 4), runnable alone:
//   node bench/issuer-batch.ts [--records N] [--floor N]
// 1. The floors: ECDH-ES (P-256) + A256GCM JWE decrypts per second on this machine, measured in this
//    process before the server starts. Every batch record carries one such JWE. One thread: jose's
//    compactDecrypt on the calling thread, 8 in flight (WebCrypto runs the key agreement itself on
//    libuv's pool, so this "one thread" uses more than one core). The pool: the server's way since
//    src/vault/jwe-pool.ts (node:crypto on worker threads), 200 in flight, with one thread (the
//    per-core floor of what the server runs) and with its default number of threads (what the
//    cores decrypt when they do nothing else: no pipeline can beat it).
// 2. A generated N-record batch file (one consumer and one card per record, cards encrypted to
//    Tessera's key, JCS-signed with a detached ES256 JWS) is streamed to a fresh `tessera serve`
//    (sandbox latency 0, Click to Pay auto-enrolment on, no records/s cap) over loopback; the clock
//    runs from the first byte sent until GET …/batch-files/:batchId says COMPLETED. Peak memory is
//    the server's VmHWM (peak resident set) from /proc.
// The server's CPU time (user + system, every thread) per record is reported too: on a shared machine
// it is steadier than records/s.
// Targets: ≥ 2,000 records/s and ≤ 300 MB peak RSS. The embedded SQLite is the default;
// DATABASE_URL selects a PostgreSQL; NODE_OPTIONS is passed to the server (e.g. --max-old-space-size).
// Only 127.0.0.1 is used.
import { spawn } from 'node:child_process';
import { createSign, KeyObject, randomUUID } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { CompactEncrypt, SignJWT, compactDecrypt, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { createPrivateKey, type JsonWebKey as NodeJsonWebKey } from 'node:crypto';
import { JwePool, defaultJwePoolSize } from '../src/vault/jwe-pool.ts';
import { buildDeps } from '../src/deps.ts';
import { processCpuMs, processMemoryMb } from './processes.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { canonicalize } from '../src/domain/jcs.ts';
import { withCheckDigit } from '../src/sandbox/test-cards.ts';

const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const TARGETS = { recordsPerS: 2000, rssMb: 300 };
const { values: args } = parseArgs({ options: { records: { type: 'string', default: '100000' }, floor: { type: 'string', default: '3000' }, /** Writes a V8 CPU profile of the server to this directory. */ profile: { type: 'string' } } });
const N = Number(args.records);
const log = (m: string) => process.stderr.write(`bench: ${m}\n`);

const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-batch-'));
const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TESSERA_DATA_DIR: dataDir, LOG_LEVEL: 'warn', TESSERA_BATCH_RECORDS_PER_S: '1000000', ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}), ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}) };

/** A Luhn-valid Visa-range number that is not a sandbox scenario (approved, digitized). */
function pan(i: number): string {
  return withCheckDigit('4532' + String(i).padStart(11, '0'));
}

try {
  // Setup in-process: the issuer, Tessera's key, and the floor.
  const deps = await buildDeps({ config: loadConfig(env), logger: createLogger('warn', process.stderr) });
  const { publicKey: sigPub, privateKey: sigKey } = await generateKeyPair('ES256', { extractable: true });
  const issuer = await deps.services.issuers.create({ name: 'Bench Bank', jwks: [{ ...(await exportJWK(sigPub)), kid: 'bench-sig' }] });
  const tesseraJwk = (await deps.issuerKeys.jwks()).keys[0] as JWK;
  const tesseraKey = (await importJWK(tesseraJwk, 'ECDH-ES')) as CryptoKey;
  const encrypt = (payload: unknown) => new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: tesseraJwk.kid! }).encrypt(tesseraKey);

  const floorN = Number(args.floor);
  // The floors use a key pair of their own (the same algorithms as Tessera's key).
  const floorKeys = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  const floorSample = await Promise.all(Array.from({ length: 64 }, (_, i) => new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ pan: pan(i), exp: '1230' }))).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: 'floor' }).encrypt(floorKeys.publicKey)));
  const rate = async (inFlight: number, decrypt: (jwe: string) => Promise<unknown>) => {
    let next = 0;
    const f0 = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < floorN) if (!(await decrypt(floorSample[next++ % floorSample.length]!))) throw new Error('floor: a JWE did not decrypt');
    }));
    return floorN / ((performance.now() - f0) / 1000);
  };
  const floorPerS = await rate(8, (jwe) => compactDecrypt(jwe, floorKeys.privateKey, { keyManagementAlgorithms: ['ECDH-ES'], contentEncryptionAlgorithms: ['A256GCM'] }));
  const poolSize = defaultJwePoolSize();
  const poolKey = { kid: 'floor', keyObject: createPrivateKey({ key: (await exportJWK(floorKeys.privateKey)) as NodeJsonWebKey, format: 'jwk' }) };
  const poolRate = async (size: number) => {
    const pool = new JwePool({ size, local: async () => null });
    await rate(200, (jwe) => pool.decrypt(poolKey, jwe)); // threads started and warm
    const perS = await rate(200, (jwe) => pool.decrypt(poolKey, jwe));
    await pool.close();
    return perS;
  };
  const pool1FloorPerS = await poolRate(1);
  const poolFloorPerS = poolSize === 1 ? pool1FloorPerS : await poolRate(poolSize);
  log(`floor: ${Math.round(floorPerS)} ECDH-ES JWE decrypts/s with jose on the calling thread (${floorN}, 8 in flight); the server's pool: ${Math.round(pool1FloorPerS)}/s with 1 thread, ${Math.round(poolFloorPerS)}/s with ${poolSize} (200 in flight)`);
  await deps.close();

  // The file: records streamed to disk, the detached JWS computed over the JCS bytes as they go.
  const header = { batchId: 'BENCH', seqNumber: 1, issuerId: issuer.issuerId, operation: 'CONSUMER_CARD_REGISTRATION', clickToPayAutoEnrolment: true };
  const protectedB64 = Buffer.from(JSON.stringify({ alg: 'ES256', kid: 'bench-sig' })).toString('base64url');
  const signer = createSign('SHA256').update(protectedB64 + '.');
  let rest = Buffer.alloc(0);
  const feed = (text: string) => {
    const buf = Buffer.concat([rest, Buffer.from(text)]);
    const aligned = buf.length - (buf.length % 3);
    signer.update(buf.subarray(0, aligned).toString('base64url'));
    rest = Buffer.from(buf.subarray(aligned));
  };
  const file = join(dataDir, 'batch.json');
  const fh = await open(file, 'w');
  const g0 = performance.now();
  await fh.write(`{"header":${JSON.stringify(header)},"records":[`);
  feed(`{"header":${canonicalize(header)},"records":[`);
  let chunk = '';
  for (let i = 0; i < N; i += 64) {
    const group = await Promise.all(Array.from({ length: Math.min(64, N - i) }, async (_, j) => {
      const n = i + j;
      return {
        rowId: n,
        consumerAndCardRegistrationRequest: {
          consumerId: `cons-${n}`,
          personalInformation: { firstName: 'Bench', lastName: `Consumer${n}`, email: `c${n}@example.com`, phone: { countryCode: '52', number: String(5500000000 + n) } },
          cards: [{ cardId: `card-${n}`, encryptedData: await encrypt({ pan: pan(n), exp: '1230' }) }],
        },
      };
    }));
    for (const [j, r] of group.entries()) {
      const text = canonicalize(r);
      const sep = i + j === 0 ? '' : ',';
      chunk += sep + text;
      feed(sep + text);
    }
    if (chunk.length > 1 << 20) {
      await fh.write(chunk);
      chunk = '';
    }
  }
  feed(']}');
  if (rest.length) signer.update(rest.toString('base64url'));
  const signature = `${protectedB64}..${signer.sign({ key: KeyObject.from(sigKey), dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  await fh.write(chunk + `],"signature":"${signature}"}`);
  await fh.close();
  log(`file: ${N} records, ${(statSync(file).size / 1e6).toFixed(1)} MB, generated in ${((performance.now() - g0) / 1000).toFixed(1)} s`);

  // The server, as an operator runs it.
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const server = spawn(NODE, [...(args.profile ? ['--cpu-prof', '--cpu-prof-dir', args.profile] : []), TESSERA, 'serve'], { env: { ...env, PORT: String(port), HOST: '127.0.0.1' }, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      if ((await request(`${base}/health`)).statusCode === 200) break;
    } catch {}
    if (i > 200) throw new Error('the server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const rssMb = (field: 'VmHWM' | 'VmRSS') => processMemoryMb(server.pid!, field);
  const idleMb = rssMb('VmRSS');
  /** The server's CPU time so far (user + system, all threads), in seconds. */
  const cpuS = () => processCpuMs(server.pid!) / 1000;
  const cpu0 = cpuS();

  const now = Math.floor(Date.now() / 1000);
  const assertion = await new SignJWT({ jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'bench-sig' }).setIssuer(issuer.issuerId).setIssuedAt(now).setExpirationTime(now + 600).sign(sigKey);
  const tokenRes = await request(`${base}/authz/v1/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString() });
  const auth = { authorization: `Bearer ${((await tokenRes.body.json()) as { access_token: string }).access_token}` };
  const batchUrl = `${base}/banking/v1/issuers/${issuer.issuerId}/batch-files`;

  const t0 = performance.now();
  const post = await request(batchUrl, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: createReadStream(file, { highWaterMark: 256 * 1024 }), bodyTimeout: 0, headersTimeout: 0 });
  const accepted = await post.body.text();
  if (post.statusCode !== 202) throw new Error(`batch refused: ${post.statusCode} ${accepted}`);
  const t1 = performance.now();
  log(`accepted (streamed, verified, stored) in ${((t1 - t0) / 1000).toFixed(1)} s`);
  let status: { status: string; processedRecords: number; koRecords: number } = { status: 'PROCESSING', processedRecords: 0, koRecords: 0 };
  for (let last = 0; status.status !== 'COMPLETED'; ) {
    await new Promise((r) => setTimeout(r, 250));
    status = (await (await request(`${batchUrl}/BENCH`, { headers: auth })).body.json()) as typeof status;
    if (performance.now() - last > 5000) {
      last = performance.now();
      log(`${status.processedRecords}/${N} processed, RSS ${rssMb('VmRSS').toFixed(0)} MB`);
    }
  }
  const t2 = performance.now();
  const peakMb = rssMb('VmHWM');
  const cpuUsed = cpuS() - cpu0;
  server.kill('SIGTERM');
  await once(server, 'exit');

  const perS = N / ((t2 - t0) / 1000);
  const result = {
    records: N,
    engine: process.env.DATABASE_URL ? 'postgres' : 'sqlite',
    endToEndS: +((t2 - t0) / 1000).toFixed(2),
    intakeS: +((t1 - t0) / 1000).toFixed(2),
    processingS: +((t2 - t1) / 1000).toFixed(2),
    recordsPerS: Math.round(perS),
    koRecords: status.koRecords,
    serverCpuS: +cpuUsed.toFixed(1),
    serverCpuUsPerRecord: Math.round((cpuUsed / N) * 1e6),
    peakRssMb: Math.round(peakMb),
    idleRssMb: Math.round(idleMb),
    floorDecryptsPerS: Math.round(floorPerS),
    ratioToFloor: +(perS / floorPerS).toFixed(2),
    poolThreads: poolSize,
    pool1FloorDecryptsPerS: Math.round(pool1FloorPerS),
    ratioToPool1Floor: +(perS / pool1FloorPerS).toFixed(2),
    poolFloorDecryptsPerS: Math.round(poolFloorPerS),
    ratioToPoolFloor: +(perS / poolFloorPerS).toFixed(2),
    targets: { recordsPerS: perS >= TARGETS.recordsPerS ? 'met' : 'missed', rss: peakMb <= TARGETS.rssMb ? 'met' : 'missed' },
  };
  process.stdout.write(JSON.stringify(result) + '\n');
  log(`${result.recordsPerS} records/s end to end (target ≥ ${TARGETS.recordsPerS}: ${result.targets.recordsPerS}); peak RSS ${result.peakRssMb} MB (target ≤ ${TARGETS.rssMb}: ${result.targets.rss}); ${result.ratioToFloor}× jose's ECDH-ES floor, ${result.ratioToPool1Floor}× the pool's 1-thread floor, ${result.ratioToPoolFloor}× its ${poolSize}-thread one; ${result.serverCpuUsPerRecord} µs server CPU per record`);
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
