// Order benchmarks (issue 6), runnable alone:
//   node bench/orders.ts [--duration S] [--connections N] [--orders N] [--webhooks N]
// A fresh `tessera serve` (sandbox latency 0) on loopback; the embedded SQLite by default,
// DATABASE_URL selects a PostgreSQL. Each merchant-face request carries the JWT as a client would.
// 1. `POST /api/orders` paid at once with a permanent token whose card pays over the PAN (an Amex:
//    no network token without an email), with autocannon.
// 2. The same with a Visa permanent token whose card got its network token in the background
//    (token PAN + a fresh cryptogram per payment: more work per order).
// 3. Webhook fan-out: N webhooks subscribed to `orders.create`; M unpaid orders are created, and
//    every signed delivery is counted at a local node:http receiver; rate = deliveries / (last − first arrival).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { freePort, processCpuMs } from './processes.ts';

const NODE = fileURLToPath(new URL('../node_modules/.bin/node', import.meta.url));
const TESSERA = fileURLToPath(new URL('../bin/tessera.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = '127.0.0.1';

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '16' },
    orders: { type: 'string', default: '2000' },
    webhooks: { type: 'string', default: '4' },
  },
});
const DURATION_S = Number(args.duration);
const CONNECTIONS = Number(args.connections);
const FANOUT_ORDERS = Number(args.orders);
const WEBHOOKS = Number(args.webhooks);

function env(dataDir: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    TESSERA_DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    // e.g. NODE_OPTIONS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the server and CLI.
    ...(process.env.NODE_OPTIONS ? { NODE_OPTIONS: process.env.NODE_OPTIONS } : {}),
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
  const child = spawn(NODE, [TESSERA, 'serve'], { env: env(dataDir, { PORT: String(port), HOST }), cwd: ROOT, stdio: ['ignore', logFd, 'inherit'] });
  closeSync(logFd);
  const url = `http://${HOST}:${port}`;
  for (const deadline = Date.now() + 30_000; ; ) {
    if (child.exitCode !== null) throw new Error('tessera exited before serving');
    if (Date.now() > deadline) throw new Error('tessera did not start');
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

async function api(url: string, jwt: string, method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(url + path, { method, headers: { authorization: jwt, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function permanentToken(url: string, jwt: string, number: string, cvc: string): Promise<string> {
  const { token } = await api(url, jwt, 'POST', '/api/tokens', { number, name: 'Bench', exp_month: '12', exp_year: '2034', cvc, tokenization: true, installments: 3 });
  for (let i = 0; i < 100; i++) {
    const meta = await api(url, jwt, 'GET', `/api/tokens/${token}`);
    if (meta.validation?.status === 'released') return token;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the validation hold was not released');
}


async function load(url: string, jwt: string, token: string, label: string, pid: number): Promise<number> {
  const request = {
    url: `${url}/api/orders`,
    method: 'POST',
    headers: { authorization: jwt, 'content-type': 'application/json' },
    body: JSON.stringify({ currency: 'MXN', items: [{ name: 'Coffee', quantity: 2, price: 150.5 }], token }),
  };
  await autocannon({ ...request, connections: CONNECTIONS, duration: 2 }); // warm-up
  const cpu0 = processCpuMs(pid);
  const r = await autocannon({ ...request, connections: CONNECTIONS, duration: DURATION_S });
  const cpuPerOrderUs = ((processCpuMs(pid) - cpu0) * 1000) / Math.max(1, r['2xx']);
  const rps = r['2xx'] / r.duration;
  console.log(
    `POST /api/orders (${label}): ${rps.toFixed(0)} orders/s (2xx ${r['2xx']}, non-2xx ${r.non2xx}, errors ${r.errors}), p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${CONNECTIONS} connections, ${DURATION_S} s (target ≥ 2000/s); server CPU ${cpuPerOrderUs.toFixed(0)} µs per order`,
  );
  return rps;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-bench-orders-'));
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
  const hookUrl = `http://${HOST}:${(receiver.address() as AddressInfo).port}/hooks`;
  let server: Awaited<ReturnType<typeof serve>> | undefined;
  try {
    const merchant = JSON.parse(await cli(dataDir, ['merchants', 'create', '--name', 'Bench shop', '--json'])) as { publicKey: string; privateKey: string };
    server = await serve(dataDir);
    const basic = 'Basic ' + Buffer.from(`${merchant.publicKey}:${merchant.privateKey}`).toString('base64');
    const { token: jwt } = (await (await fetch(`${server.url}/api/authorizations/token`, { method: 'POST', headers: { authorization: basic } })).json()) as { token: string };

    const amex = await permanentToken(server.url, jwt, '378282246310005', '1234');
    const panRate = await load(server.url, jwt, amex, 'permanent token, PAN', server.child.pid!);

    const visa = await permanentToken(server.url, jwt, '4242424242424242', '123');
    await api(server.url, jwt, 'POST', '/api/orders', { currency: 'MXN', items: [{ name: 'First', quantity: 1, price: 1 }], token: visa });
    await new Promise((r) => setTimeout(r, 1000)); // the background upgrade issues the network token
    const check = await api(server.url, jwt, 'POST', '/api/orders', { currency: 'MXN', items: [{ name: 'Check', quantity: 1, price: 1 }], token: visa });
    if (check.payment.credential !== 'network_token') throw new Error('the Visa card did not get its network token');
    const ntRate = await load(server.url, jwt, visa, 'permanent token, network token + cryptogram', server.child.pid!);

    for (let i = 0; i < WEBHOOKS; i++) await api(server.url, jwt, 'POST', '/api/webhooks', { url: `${hookUrl}/${i}`, events: ['orders.create'] });
    const expected = FANOUT_ORDERS * WEBHOOKS;
    const t0 = performance.now();
    for (let done = 0; done < FANOUT_ORDERS; done += 50) {
      await Promise.all(Array.from({ length: Math.min(50, FANOUT_ORDERS - done) }, () => api(server!.url, jwt, 'POST', '/api/orders', { currency: 'MXN', items: [{ name: 'Fan-out', quantity: 1, price: 10 }] })));
    }
    const createdS = (performance.now() - t0) / 1000;
    const deadline = Date.now() + 300_000;
    while (received.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const first = received[0] ?? 0;
    const last = received[received.length - 1] ?? 0;
    const fanout = received.length > 1 ? (received.length - 1) / ((last - first) / 1000) : 0;
    console.log(
      `webhook fan-out: ${FANOUT_ORDERS} orders × ${WEBHOOKS} webhooks created in ${createdS.toFixed(1)} s (${(FANOUT_ORDERS / createdS).toFixed(0)} orders/s with ${WEBHOOKS} deliveries queued each); ` +
        `${received.length}/${expected} signed deliveries received, ${fanout.toFixed(0)}/s`,
    );
    console.log(JSON.stringify({ engine: process.env.DATABASE_URL ? 'postgres' : 'sqlite', ordersPanPerS: Math.round(panRate), ordersNetworkTokenPerS: Math.round(ntRate), webhookDeliveriesPerS: Math.round(fanout) }));
  } finally {
    await server?.stop();
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
