// Network tokenization benchmarks (issue 3), runnable alone:
//   node bench/cof.ts [--duration S] [--connections N] [--deliveries N] [--worker-concurrency N]
// 1. The floor: RSA-OAEP-256 JWE decrypts per second on this machine (jose, as the server does it,
//    with enough in flight to use libuv's thread pool), measured in this process before the server starts.
// 2. Notification delivery: N signed deliveries are written to the database (as the transactions
//    that cause them would), then a fresh `tessera serve` delivers them to a local node:http
//    receiver in this process; rate = N / (last arrival − first arrival); also the server's CPU per
//    delivery (/proc, first to last arrival) and how long /health took to answer with all of them queued.
// 3. Sync `POST /cof/v1/tokens` (Mastercard: a new token per request, so every request writes),
//    sandbox latency 0, with autocannon; reported with its ratio to the floor.
// Only loopback is used. The embedded SQLite is the default; DATABASE_URL selects a PostgreSQL.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort, processCpuMs } from './processes.ts';
import { CompactEncrypt, compactDecrypt, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import { buildDeps } from '../src/deps.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';

const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = '127.0.0.1';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    deliveries: { type: 'string', default: '20000' },
    'worker-concurrency': { type: 'string' },
    /** Writes a V8 CPU profile of the server to this directory (read it with bench/profile.ts). */
    profile: { type: 'string' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const DELIVERIES = Number(args.deliveries);

function env(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TESSERA_DATA_DIR: dataDir,
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(args['worker-concurrency'] ? { TESSERA_WORKER_CONCURRENCY: args['worker-concurrency'] } : {}),
    ...(process.env.TESSERA_NOTIFY_PER_DESTINATION ? { TESSERA_NOTIFY_PER_DESTINATION: process.env.TESSERA_NOTIFY_PER_DESTINATION } : {}),
    ...extra,
  };
}

async function cli(dataDir: string, argv: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(NODE, [TESSERA, ...argv], { env: env(dataDir), cwd: ROOT }, (err, out, errOut) => (err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out))),
  );
}

async function serve(dataDir: string): Promise<{ url: string; child: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort();
  const logFd = openSync(join(dataDir, 'server.log'), 'a');
  const flags = args.profile ? ['--cpu-prof', `--cpu-prof-dir=${args.profile}`] : [];
  const child = spawn(NODE, [...flags, TESSERA, 'serve'], { env: env(dataDir, { PORT: String(port), HOST }), cwd: ROOT, stdio: ['ignore', logFd, 'inherit'] });
  closeSync(logFd);
  const url = `http://${HOST}:${port}`;
  for (const deadline = Date.now() + 30_000; ; ) {
    if (child.exitCode !== null) throw new Error('tessera exited before serving');
    if (Date.now() > deadline) {
      // Not left running (and a --profile run still writes its profile on the way out).
      child.kill('SIGTERM');
      const exited = once(child, 'exit');
      if (await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(r, 10_000, false))]) === false) child.kill('SIGKILL');
      throw new Error('tessera did not start');
    }
    if (await fetch(`${url}/health`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    child,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    },
  };
}

/** RSA-OAEP-256 + A256GCM compact JWE decrypts per second, `inFlight` at a time, for `seconds`. */
async function rsaFloor(seconds: number, inFlight = 16): Promise<number> {
  const { publicKey, privateKey } = await generateKeyPair('RSA-OAEP-256', { modulusLength: 2048 });
  const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ fpan: '5555555555554444', exp: '1234' })))
    .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'k' })
    .encrypt(publicKey);
  for (let i = 0; i < 50; i++) await compactDecrypt(jwe, privateKey);
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await Promise.all(Array.from({ length: inFlight }, () => compactDecrypt(jwe, privateKey)));
    n += inFlight;
  }
  return n / ((performance.now() - t0) / 1000);
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-cof-'));
  const received: number[] = [];
  const receiver = createHttpServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(performance.now());
      res.writeHead(200).end();
    });
  });
  receiver.listen(0, HOST);
  await once(receiver, 'listening');
  const notifyUrl = `http://${HOST}:${(receiver.address() as AddressInfo).port}/notifications`;
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    const floor = await rsaFloor(3);
    console.log(`RSA-OAEP-256 JWE decrypt floor: ${floor.toFixed(0)}/s (jose, 16 in flight, this process)`);

    const merchant = JSON.parse(await cli(dataDir, ['merchants', 'create', '--name', 'Bench PSP', '--notify-url', notifyUrl, '--json'])) as { id: string; privateKey: string };

    // Deliveries are written as the state changes that cause them would write them, before the server starts.
    const config = loadConfig(env(dataDir));
    const deps = await buildDeps({ config, logger: createLogger('warn', process.stderr) });
    for (let done = 0; done < DELIVERIES; done += 500) {
      await deps.db.kysely.transaction().execute(async (trx) => {
        for (let i = done; i < Math.min(DELIVERIES, done + 500); i++) {
          await deps.services.notifications.enqueue(trx, {
            merchantId: merchant.id,
            url: notifyUrl,
            eventType: 'token.updated',
            body: { merchantId: merchant.id, tokenId: `bench-${i}`, tokenStatus: 'SUSPENDED', reason: 'BENCH' },
            headers: { 'x-correlation-id': `bench-${i}` },
          });
        }
      });
    }
    await deps.close();

    const startedAt = performance.now();
    server = await serve(dataDir);
    const healthS = (performance.now() - startedAt) / 1000;
    // The server's CPU time from the first arrival to the last (sampled every 5 ms while they come).
    const pid = server.child.pid!;
    let cpuAtFirst = -1;
    let cpuAtLast = 0;
    const sampler = setInterval(() => {
      if (received.length > 0 && cpuAtFirst < 0) cpuAtFirst = processCpuMs(pid);
      if (received.length < DELIVERIES) cpuAtLast = processCpuMs(pid);
    }, 5);
    const deliveryDeadline = Date.now() + 300_000;
    while (received.length < DELIVERIES && Date.now() < deliveryDeadline) await new Promise((r) => setTimeout(r, 50));
    clearInterval(sampler);
    const first = received[0] ?? 0;
    const last = received[received.length - 1] ?? 0;
    const deliveryRate = received.length > 1 ? (received.length - 1) / ((last - first) / 1000) : 0;
    const cpuPerDeliveryUs = cpuAtFirst >= 0 ? ((cpuAtLast - cpuAtFirst) * 1000) / Math.max(1, received.length) : 0;
    console.log(
      `notification delivery: ${received.length}/${DELIVERIES} delivered, ${deliveryRate.toFixed(0)}/s (target ≥ 2000/s); ` +
        `server CPU ${cpuPerDeliveryUs.toFixed(0)} µs per delivery; /health answered ${healthS.toFixed(1)} s after start with all of them queued`,
    );

    const jwks = (await (await fetch(`${server.url}/cof/v1/keys`)).json()) as { keys: JWK[] };
    const key = (await importJWK(jwks.keys[0]!, 'RSA-OAEP-256')) as CryptoKey;
    const encryptedData = await new CompactEncrypt(
      new TextEncoder().encode(JSON.stringify({ fpan: '5555555555554444', exp: '1234', name: 'Bench', cvv: '123', accountId: 'bench' })),
    )
      .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwks.keys[0]!.kid! })
      .encrypt(key);
    const request = {
      url: `${server.url}/cof/v1/tokens`,
      method: 'POST',
      headers: { authorization: `APIKEY ${merchant.privateKey}`, 'x-correlation-id': 'bench', 'content-type': 'application/json' },
      body: JSON.stringify({ merchantId: merchant.id, encryptedData, source: 'MANUAL' }),
    };
    await autocannon({ ...request, connections: CONNECTIONS, duration: 2 }); // warm-up
    const result = await autocannon({ ...request, connections: CONNECTIONS, duration: DURATION_S });
    const rps = result['2xx'] / result.duration;
    console.log(
      `sync POST /cof/v1/tokens: ${rps.toFixed(0)}/s (2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors}), ` +
        `p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, ${CONNECTIONS} connections, ${DURATION_S} s; ` +
        `${((rps / floor) * 100).toFixed(0)}% of the RSA floor (target ≥ 2000/s)`,
    );
    console.log(
      JSON.stringify({ rsaFloorPerS: Math.round(floor), deliveriesPerS: Math.round(deliveryRate), cpuPerDeliveryUs: Math.round(cpuPerDeliveryUs), healthS: +healthS.toFixed(1), syncTokensPerS: Math.round(rps), ratioToFloor: +(rps / floor).toFixed(2), p50Ms: result.latency.p50, p99Ms: result.latency.p99 }),
    );
  } finally {
    await server?.stop();
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
