// The cluster kill test. A scale-out test, so PostgreSQL only (SQLite is one process by design):
// `npm run cluster`'s topology (2 API-only `tessera serve`, 2 `tessera worker`, nginx in front)
// takes the merchant flow (temporary tokens, orders paid with them, signed webhooks) and the
// network-token flow (async token requests with creation notifications, sync tokens, transactions)
// from concurrent clients; one API process and one worker are SIGKILLed mid-run and the clients go
// on. Afterwards: every 2xx is readable, every Idempotency-Key retried across the kill produced
// exactly one outcome, and every webhook and notification arrived (duplicates only with one id).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import { ENGINES, createPgDatabase, eventually } from './support/harness.ts';
import { CARDS, findPans } from './support/cards.ts';
import { merchantKeyPair, startReceiver, verifySignature } from './support/cof.ts';
import { startCluster, type Cluster } from '../scripts/cluster.ts';

const LOAD_MS = 9_000;
const KILL_AT_MS = 3_000;
const MERCHANT_CLIENTS = 6;
const NETWORK_CLIENTS = 4;

/** An Idempotency-Key of letters only: a long run of random digits can look like a card number, which Tessera refuses in names and correlation ids. */
const newKey = (prefix: string) => `${prefix}-${[...randomBytes(24)].map((b) => String.fromCharCode(97 + (b % 26))).join('')}`;

type Result = { status: number; body: any; attempts: number };

/** A client that retries what a careful integrator retries: connection failures, 502/503/504 and `idempotency_key_in_use`, always with the same key. */
function client(base: string, stats: { attempts: number; retried: number; networkErrors: number }, direct?: string) {
  return async function send(method: string, path: string, o: { headers?: Record<string, string>; body?: unknown; key?: string } = {}): Promise<Result> {
    const deadline = Date.now() + 40_000;
    for (let attempt = 1; ; attempt++) {
      stats.attempts++;
      try {
        // A client pinned to one API process (no proxy) goes through nginx once that process fails it.
        const res = await fetch((direct && attempt === 1 ? direct : base) + path, {
          method,
          headers: { ...o.headers, ...(o.key ? { 'idempotency-key': o.key } : {}), ...(o.body !== undefined ? { 'content-type': 'application/json' } : {}) },
          ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        const body = text ? JSON.parse(text) : undefined;
        const inUse = res.status === 409 && (body?.code ?? body?.errorCode) === 'idempotency_key_in_use';
        if ((res.status === 502 || res.status === 503 || res.status === 504 || inUse) && Date.now() < deadline) {
          stats.retried++;
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        return { status: res.status, body, attempts: attempt };
      } catch (err) {
        stats.networkErrors++;
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };
}

async function rows(url: string, text: string, values: unknown[] = []): Promise<Record<string, any>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(text, values)).rows;
  } finally {
    await c.end();
  }
}

describe('the cluster behind nginx (PostgreSQL: scale-out)', { skip: !ENGINES.includes('postgres') && 'PostgreSQL not in TESSERA_TEST_ENGINES' }, () => {
  it('loses nothing accepted and skips no notification when an API process and a worker are SIGKILLed mid-run', { timeout: 120_000 }, async () => {
    const db = await createPgDatabase();
    const dataDir = mkdtempSync(join(tmpdir(), 'tessera-cluster-test-'));
    const receiver = await startReceiver();
    let cluster: Cluster | undefined;
    try {
      cluster = await startCluster({
        port: 0,
        databaseUrl: db.url,
        dataDir,
        output: 'capture',
        env: {
          LOG_LEVEL: 'warn',
          TESSERA_WORKER_POLL_MS: '50',
          TESSERA_RETRY_BASE_MS: '200',
          // A killed process's claims lapse within the test's time (production keeps the 60 s defaults).
          TESSERA_JOB_LOCK_MS: '3000',
          TESSERA_IDEMPOTENCY_LOCK_MS: '3000',
          TESSERA_BATCH_LEASE_MS: '3000',
          TESSERA_AUTH_FAILURES_MAX: '1000',
        },
      });
      const c = cluster;
      assert.equal(c.members.filter((m) => m.role === 'api').length, 2);
      assert.equal(c.members.filter((m) => m.role === 'worker').length, 2);
      const created = c.run(['merchants', 'create', '--name', 'Cluster shop', '--notify-url', receiver.url, '--json']);
      assert.equal(created.status, 0, created.stderr);
      const m = JSON.parse(created.stdout) as { id: string; publicKey: string; privateKey: string; webhookSecret: string };

      const stats = { attempts: 0, retried: 0, networkErrors: 0 };
      const send = client(c.url, stats);
      const login = await send('POST', '/api/authorizations/token', { headers: { authorization: `Basic ${Buffer.from(`${m.publicKey}:${m.privateKey}`).toString('base64')}` } });
      assert.equal(login.status, 200);
      const jwt = { authorization: login.body.token as string };
      const hook = await send('POST', '/api/webhooks', { headers: jwt, body: { url: `${receiver.url}/orders`, events: ['orders.confirmation'] } });
      assert.equal(hook.status, 201);
      const pair = await merchantKeyPair();
      const cofAuth = { authorization: `APIKEY ${m.privateKey}` };
      const patched = await send('PATCH', `/cof/v1/merchants/${m.id}`, { headers: { ...cofAuth, 'x-correlation-id': 'setup' }, body: { jwks: pair.jwks } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const jwk = ((await send('GET', '/cof/v1/keys')).body.keys as JWK[])[0]!;
      const tesseraKey = await importJWK({ ...jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256');
      const encrypt = (payload: unknown) =>
        new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! }).encrypt(tesseraKey);

      // What the clients were told, per Idempotency-Key.
      const tokens = new Map<string, Result>();
      const orders = new Map<string, Result>();
      const asyncTokens = new Map<string, Result>();
      const syncTokens = new Map<string, Result>();
      const transactions = new Map<string, Result>();
      const unexpected: string[] = [];
      const expect2xx = (what: string, r: Result) => {
        if (r.status < 200 || r.status > 299) unexpected.push(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
        return r.status >= 200 && r.status <= 299;
      };

      const stopAt = Date.now() + LOAD_MS;
      // One client of each flow talks to api-1 directly: when it is killed, they retry through nginx with the same key.
      const api1 = c.members.find((x) => x.name === 'api-1')!;
      const pinned = client(c.url, stats, `http://127.0.0.1:${api1.port}`);
      const merchantLoop = async (_: unknown, i: number) => {
        const send = i === 0 ? pinned : client(c.url, stats);
        while (Date.now() < stopAt) {
          const tk = newKey('tok');
          const t = await send('POST', '/api/tokens', { headers: jwt, key: tk, body: { number: CARDS.visa, name: 'Ada Lovelace', exp_month: '12', exp_year: '2034', cvc: '123' } });
          tokens.set(tk, t);
          if (!expect2xx('POST /api/tokens', t)) continue;
          const ok = newKey('ord');
          const o = await send('POST', '/api/orders', { headers: jwt, key: ok, body: { currency: 'MXN', items: [{ name: ok, quantity: 1, price: 99.5 }], token: t.body.token } });
          orders.set(ok, o);
          // Paid — or, for the few requests the kill interrupted mid-payment, the order they created,
          // left unpaid (its payment is reversed by the reconciler: nobody is charged twice or for nothing).
          if (expect2xx('POST /api/orders', o) && o.body.status !== 'paid' && !(o.body.status === 'created' && ['pending', 'failed'].includes(o.body.payment?.status))) {
            unexpected.push(`order ${o.body.id} is ${o.body.status}/${o.body.payment?.status}`);
          }
        }
      };
      const networkLoop = async (_: unknown, i: number) => {
        const send = i === 0 ? pinned : client(c.url, stats);
        while (Date.now() < stopAt) {
          const ak = newKey('at');
          const a = await send('POST', '/cof/v1/async-tokens', {
            headers: { ...cofAuth, 'x-correlation-id': ak.slice(0, 36) },
            key: ak,
            body: { merchantId: m.id, source: 'ON_FILE', encryptedData: await encrypt({ fpan: CARDS.mastercard, exp: '1234', name: 'Ada Lovelace', cvv: '123', accountId: ak }) },
          });
          asyncTokens.set(ak, a);
          expect2xx('POST /cof/v1/async-tokens', a);
          const sk = newKey('st');
          const s = await send('POST', '/cof/v1/tokens', {
            headers: { ...cofAuth, 'x-correlation-id': sk.slice(0, 36) },
            key: sk,
            body: { merchantId: m.id, source: 'ON_FILE', encryptedData: await encrypt({ fpan: CARDS.visa, exp: '1234', name: 'Ada Lovelace', cvv: '123', accountId: sk }) },
          });
          syncTokens.set(sk, s);
          if (!expect2xx('POST /cof/v1/tokens', s)) continue;
          const xk = newKey('tx');
          const x = await send('POST', '/cof/v1/transactions', { headers: { ...cofAuth, 'x-correlation-id': xk.slice(0, 36) }, key: xk, body: { tokenId: s.body.tokenId, transactionType: 'SINGLE' } });
          transactions.set(xk, x);
          expect2xx('POST /cof/v1/transactions', x);
        }
      };

      const worker1 = c.members.find((x) => x.name === 'worker-1')!;
      const killer = (async () => {
        await new Promise((r) => setTimeout(r, KILL_AT_MS));
        await Promise.all([c.kill(api1), c.kill(worker1)]);
      })();
      await Promise.all([...Array.from({ length: MERCHANT_CLIENTS }, merchantLoop), ...Array.from({ length: NETWORK_CLIENTS }, networkLoop), killer]);
      assert.equal(api1.alive(), false);
      assert.equal(worker1.alive(), false);
      assert.deepEqual(unexpected, []);
      assert.ok(stats.networkErrors > 0, 'the pinned clients saw the kill');
      assert.ok(orders.size >= 10 && asyncTokens.size >= 5 && transactions.size >= 5, `too little traffic: ${orders.size} orders, ${asyncTokens.size} async tokens, ${transactions.size} transactions`);

      // 1. Every 2xx is durable: read back through the surviving processes.
      for (const o of orders.values()) {
        const r = await send('GET', `/api/orders/${o.body.id}`, { headers: jwt });
        assert.equal(r.status, 200);
        assert.equal(r.body.status, o.body.status);
      }
      const interrupted = [...orders.values()].filter((o) => o.body.status !== 'paid').length;
      assert.ok(interrupted <= MERCHANT_CLIENTS, `${interrupted} orders interrupted: at most one per client can be in flight at the kill`);
      for (const s of syncTokens.values()) assert.equal((await send('GET', `/cof/v1/tokens/${s.body.tokenId}`, { headers: { ...cofAuth, 'x-correlation-id': 'check' } })).status, 200);
      for (const a of asyncTokens.values()) assert.equal((await send('GET', `/cof/v1/async-tokens/${a.body.requestId}`, { headers: { ...cofAuth, 'x-correlation-id': 'check' } })).status, 200);

      // 2. Exactly one outcome per key, across the kill: what the database holds, one per key.
      const perOrderKey = await rows(db.url, `SELECT items FROM orders WHERE merchant_id = $1`, [m.id]);
      const orderNames = perOrderKey.map((r) => (JSON.parse(r.items) as { name: string }[])[0]!.name);
      assert.equal(orderNames.length, orders.size, 'one order per Idempotency-Key');
      assert.deepEqual(new Set(orderNames), new Set(orders.keys()));
      // Orders and async token requests carry their key (above: exactly one per key). Temporary tokens
      // and transactions cannot be rebuilt from the database (a bearer token stored as a hash, a
      // single-use cryptogram), so their Idempotency-Key answer is
      // stored after their work commits. A process killed between the two leaves work whose answer
      // nobody saw; the retry does it again and its client still gets one answer. Bounded here by the
      // requests in flight at the kill (one per client at most): the known gap in docs/deploy.md.
      const orphans = (what: string, n: number, keys: number, clients: number) => {
        assert.ok(n >= keys, `${what}: ${n} stored for ${keys} answered keys: an accepted request was lost`);
        assert.ok(n - keys <= clients, `${what}: ${n - keys} unanswered duplicates, more than the ${clients} requests that can be in flight at the kill`);
        return n - keys;
      };
      const [temp] = await rows(db.url, `SELECT count(*) AS n FROM tokens WHERE merchant_id = $1 AND type = 'temporary'`, [m.id]);
      const requests = await rows(db.url, `SELECT id, idempotency_key FROM network_token_requests WHERE merchant_id = $1`, [m.id]);
      assert.equal(requests.length, asyncTokens.size, 'one async token request per Idempotency-Key');
      for (const r of requests) assert.equal(asyncTokens.get(r.idempotency_key)?.body.requestId, r.id, 'the answer names the request made under its key');
      const [tx] = await rows(db.url, `SELECT count(*) AS n FROM network_transactions WHERE merchant_id = $1`, [m.id]);
      const unanswered =
        orphans('temporary tokens', Number(temp!.n), tokens.size, MERCHANT_CLIENTS) +
        orphans('transactions', Number(tx!.n), transactions.size, NETWORK_CLIENTS);

      // 3. Every notification and webhook arrives; a repeat (at least once) carries the same id and body.
      const requestIds = new Set([...asyncTokens.values()].map((a) => a.body.requestId as string));
      const creations = await eventually(async () => {
        const got = receiver.received.filter((r) => r.headers['webhook-id'] && requestIds.has(r.json.requestId));
        return new Set(got.map((r) => r.json.requestId)).size === requestIds.size ? got : undefined;
      }, 30_000, 'a creation notification for every async token request');
      for (const n of creations) {
        assert.ok(verifySignature(m.webhookSecret, n.headers, n.body), 'signed');
        assert.equal(n.json.tokenStatus, 'ACTIVE');
      }
      const paidIds = new Set([...orders.values()].filter((o) => o.body.status === 'paid').map((o) => o.body.id as string));
      const confirmations = await eventually(async () => {
        const got = receiver.received.filter((r) => r.headers['x-pay-webhook-id'] && r.json.event === 'orders.confirmation');
        return new Set(got.map((r) => r.json.data.id)).size === paidIds.size ? got : undefined;
      }, 30_000, 'an orders.confirmation webhook for every paid order');
      assert.deepEqual(new Set(confirmations.map((r) => r.json.data.id)), paidIds);
      for (const [header, list] of [['webhook-id', creations], ['x-pay-webhook-id', confirmations]] as const) {
        const byId = new Map<string, string>();
        for (const n of list) {
          const id = String(n.headers[header]);
          const key = header === 'webhook-id' ? n.json.requestId : n.json.data.id;
          if (byId.has(id)) assert.equal(byId.get(id), key, 'a duplicate delivery is the same notification');
          byId.set(id, key);
        }
        // One delivery id per subject: a duplicate is a redelivery, never a second notification.
        assert.equal(byId.size, new Set(byId.values()).size);
      }
      const [dead] = await rows(db.url, `SELECT count(*) AS n FROM jobs WHERE status = 'dead'`);
      assert.equal(Number(dead!.n), 0, 'no job died');

      // Nothing to see for an attacker: no test PAN in any process's output or any notification.
      assert.deepEqual(findPans(c.output.join('') + receiver.received.map((r) => r.body).join('\n')), []);
      // nginx passed requests on (a process refused or dropped them): "status=502, 201"-like lines.
      // Its log holds no URI (a path can carry a token), so no token either.
      const access = readFileSync(join(c.runDir, 'access.log'), 'utf8');
      const passedOn = access.split('\n').filter((l) => /status=\S+, /.test(l));
      const replayedPosts = passedOn.filter((l) => / POST /.test(l)).length;
      for (const t of tokens.values()) assert.ok(!access.includes(t.body.token), 'no token in the access log');
      const dupes = receiver.received.length - creations.length - confirmations.length;
      process.stdout.write(
        `# cluster: ${orders.size} orders (${interrupted} interrupted mid-payment), ${tokens.size} temporary tokens, ${asyncTokens.size} async + ${syncTokens.size} sync network tokens, ${transactions.size} transactions, ${unanswered} unanswered duplicates of killed requests; ` +
          `nginx passed ${passedOn.length} requests on (${replayedPosts} keyed POSTs); ${stats.attempts} HTTP attempts, ${stats.retried} client retries, ${stats.networkErrors} connection errors; ` +
          `${creations.length - requestIds.size} duplicate notifications, ${confirmations.length - paidIds.size} duplicate webhooks, ${dupes} other deliveries\n`,
      );
    } finally {
      await cluster?.stop();
      await receiver.close();
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
