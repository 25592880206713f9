import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CARDS, findPans, rawCard } from './support/cards.ts';
import { createPgDatabase, ENGINES, eventually } from './support/harness.ts';

const ROOT = join(import.meta.dirname, '..');
const NODE = process.execPath;
const BIN = join(ROOT, 'bin', 'tessera.js');

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function tessera(args: string[], env: Record<string, string>) {
  return spawnSync(NODE, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', cwd: ROOT });
}

// The product as a user runs it: the `tessera` command and a real server process over HTTP.
for (const engine of ENGINES) {
  describe(`the tessera command and server on ${engine}`, () => {
    let dataDir: string;
    let env: Record<string, string>;
    let server: ChildProcess;
    let serverOutput = '';
    let base: string;
    let dropDb: (() => Promise<void>) | undefined;

    before(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'tessera-cli-'));
      const port = await freePort();
      env = { TESSERA_DATA_DIR: dataDir, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', TESSERA_WORKER_POLL_MS: '20' };
      if (engine === 'postgres') {
        const pgDb = await createPgDatabase();
        env.DATABASE_URL = pgDb.url;
        dropDb = pgDb.drop;
      }
      base = `http://127.0.0.1:${port}`;
    });

    after(async () => {
      if (server && server.exitCode === null) {
        server.kill('SIGTERM');
        await new Promise((r) => server.once('exit', r));
      }
      await dropDb?.();
      rmSync(dataDir, { recursive: true, force: true });
    });

    let merchant: { id: string; publicKey: string; privateKey: string; webhookSecret: string };

    it('merchants create --json prints exactly one JSON document on a fresh data directory, migrating first', () => {
      const res = tessera(['merchants', 'create', '--name', 'Acme', '--json'], env);
      assert.equal(res.status, 0, res.stderr);
      merchant = JSON.parse(res.stdout);
      assert.deepEqual(Object.keys(merchant).filter((k) => ['id', 'publicKey', 'privateKey', 'webhookSecret'].includes(k)).length, 4);
      assert.match(merchant.id, /^[0-9a-f]{24}$/);
      assert.match(merchant.webhookSecret, /^whsec_[A-Za-z0-9+/=]+$/);
      assert.match((merchant as { publishableKey?: string }).publishableKey ?? '', /^pk_test_[0-9a-f]{32}$/, 'the publishable key of hosted card fields');
      assert.equal(res.stdout.trim().split('\n').length, 1);
    });

    it('without --json it prints the same for a human; bad usage exits 2', () => {
      const human = tessera(['merchants', 'create', '--name', 'Human Shop'], env);
      assert.equal(human.status, 0, human.stderr);
      assert.match(human.stdout, /privateKey:\s+sk_/);
      const bad = tessera(['merchants', 'create', '--json'], env);
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /--name/);
      assert.equal(tessera(['frobnicate'], env).status, 2);
      const help = tessera(['--help'], env);
      assert.equal(help.status, 0);
      assert.match(help.stdout, /merchants create/);
    });

    it('migrate --json reports the engine', () => {
      const res = tessera(['migrate', '--json'], env);
      assert.equal(res.status, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { migrated: true, engine });
    });

    it('jwks rotate publishes a new key, and retire drops the old one', () => {
      const before = JSON.parse(tessera(['jwks', 'list', '--json'], env).stdout) as { keys: { kid: string }[] };
      assert.equal(before.keys.length, 1);
      const rotated = tessera(['jwks', 'rotate', '--json'], env);
      assert.equal(rotated.status, 0, rotated.stderr);
      const { kid } = JSON.parse(rotated.stdout) as { kid: string };
      const during = JSON.parse(tessera(['jwks', 'list', '--json'], env).stdout) as { keys: { kid: string }[] };
      assert.deepEqual(during.keys.map((k) => k.kid), [kid, before.keys[0]!.kid]);
      assert.equal(tessera(['jwks', 'retire', '--kid', kid, '--json'], env).status, 1, 'the active key cannot be retired');
      const retired = tessera(['jwks', 'retire', '--kid', before.keys[0]!.kid, '--json'], env);
      assert.equal(retired.status, 0, retired.stderr);
      const after = JSON.parse(tessera(['jwks', 'list', '--json'], env).stdout) as { keys: { kid: string }[] };
      assert.deepEqual(after.keys.map((k) => k.kid), [kid]);
      assert.equal(tessera(['jwks', 'retire', '--json'], env).status, 2);
    });

    it('serves: health, login, temporary and permanent tokens over real HTTP', async () => {
      server = spawn(NODE, [BIN, 'serve'], { env: { ...process.env, ...env }, cwd: ROOT });
      server.stdout!.on('data', (d) => (serverOutput += d));
      server.stderr!.on('data', (d) => (serverOutput += d));
      const deadline = Date.now() + 15_000;
      for (;;) {
        try {
          if ((await fetch(`${base}/health`)).status === 200) break;
        } catch {}
        if (Date.now() > deadline) throw new Error(`server did not start: ${serverOutput}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const login = await fetch(`${base}/api/authorizations/token`, {
        method: 'POST',
        headers: { authorization: 'Basic ' + Buffer.from(`${merchant.publicKey}:${merchant.privateKey}`).toString('base64') },
      });
      assert.equal(login.status, 200);
      const { token: jwt } = (await login.json()) as { token: string };

      const post = (body: unknown) =>
        fetch(`${base}/api/tokens`, { method: 'POST', headers: { authorization: jwt, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const temp = await post(rawCard({ number: CARDS.mastercardRef }));
      assert.equal(temp.status, 201);
      assert.match(((await temp.json()) as { token: string }).token, /^ca_[0-9a-f]{17}$/);

      const perm = await post(rawCard({ tokenization: true, installments: 3, fixed_installments: true }));
      assert.equal(perm.status, 201);
      const { token } = (await perm.json()) as { token: string };
      let status = '';
      for (let i = 0; i < 100 && status !== 'released'; i++) {
        const meta = (await (await fetch(`${base}/api/tokens/${token}`, { headers: { authorization: `Bearer ${jwt}` } })).json()) as {
          validation: { status: string };
        };
        status = meta.validation.status;
        if (status !== 'released') await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(status, 'released');

      const declined = await post(rawCard({ number: CARDS.insufficientFunds, tokenization: true }));
      assert.equal(declined.status, 402);
      assert.equal(((await declined.json()) as { code: string }).code, 'insufficient_funds');

      const docs = await fetch(`${base}/openapi.json`);
      const spec = (await docs.json()) as { openapi: string; paths: Record<string, unknown> };
      assert.equal(spec.openapi, '3.1.0');
      assert.ok(spec.paths['/api/tokens']);
      assert.equal((await fetch(`${base}/docs`)).status, 200);
      // The request log reaches stdout while the server runs (the buffer is flushed every second),
      // not only once 4 KiB have piled up or at shutdown.
      const lines = async () => serverOutput.split('\n').filter((l) => l.includes('"route":"/docs"')).length;
      await eventually(async () => ((await lines()) > 0 ? true : undefined), 5000, 'the /docs request logged while the server runs');
    });

    it('stops cleanly on SIGTERM, and no PAN, CVC or private key reached its logs or its database', async () => {
      server.kill('SIGTERM');
      const code = await new Promise((r) => server.once('exit', r));
      assert.equal(code, 0);
      const logs = serverOutput;
      assert.ok(logs.includes('"route":"/api/tokens"'), 'requests are logged by route');
      assert.deepEqual(findPans(logs), []);
      assert.ok(!logs.includes(merchant.privateKey));
      assert.ok(!/"cvc"\s*:\s*"\d/.test(logs));
      if (engine === 'sqlite') {
        const stored = readdirSync(dataDir)
          .filter((f) => f.startsWith('tessera.db'))
          .map((f) => readFileSync(join(dataDir, f)).toString('latin1'))
          .join('');
        assert.deepEqual(findPans(stored), []);
        assert.ok(!stored.includes(merchant.privateKey), 'the private key is stored only as a hash');
        assert.ok(!stored.includes(merchant.webhookSecret), 'the webhook secret is stored encrypted');
      }
    });
  });
}
