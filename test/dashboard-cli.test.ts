import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ENGINES } from './support/harness.ts';
import { processEnv, ROOT, type Processes } from './support/processes.ts';

const BIN = join(ROOT, 'bin', 'tessera.js');

for (const engine of ENGINES) {
  describe(`tessera admin create on ${engine}`, () => {
    let p: Processes;

    before(async () => {
      p = await processEnv(engine);
    });
    after(async () => {
      await p.close();
    });

    it('creates an operator with a generated password shown once, stored only as a scrypt hash, who can sign in', async () => {
      const res = p.run(['admin', 'create', '--email', 'Ops@Example.com', '--json']);
      assert.equal(res.status, 0, res.stderr);
      const created = JSON.parse(res.stdout);
      assert.equal(created.email, 'ops@example.com');
      assert.match(created.password, /^[A-Za-z0-9_-]{24}$/);
      const [row] = await p.query(`SELECT password_hash FROM operators WHERE email = 'ops@example.com'`);
      assert.match(String(row!.password_hash), /^scrypt\$131072\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
      assert.ok(!String(row!.password_hash).includes(created.password));

      await p.serve();
      const login = (password: string) =>
        fetch(`${p.base}/dashboard/login`, {
          method: 'POST',
          redirect: 'manual',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: p.base },
          body: new URLSearchParams({ email: 'ops@example.com', password }),
        });
      const ok = await login(created.password);
      assert.equal(ok.status, 303);
      assert.match(ok.headers.get('set-cookie') ?? '', /^tessera_operator=/);
      assert.equal((await login('not-' + created.password)).status, 401);

      const disabled = p.run(['admin', 'disable', '--email', 'ops@example.com', '--json']);
      assert.equal(disabled.status, 0, disabled.stderr);
      assert.deepEqual(JSON.parse(disabled.stdout), { email: 'ops@example.com', disabled: true });
      const session = (ok.headers.get('set-cookie') ?? '').split(';')[0]!;
      const after = await fetch(`${p.base}/dashboard`, { redirect: 'manual', headers: { cookie: session } });
      assert.deepEqual([after.status, after.headers.get('location')], [303, '/dashboard/login'], 'the session ended with it');
      assert.equal((await login(created.password)).status, 401);
      assert.equal(p.run(['admin', 'disable', '--email', 'nobody@example.com']).status, 1);
    });

    it('reads a chosen password from standard input and refuses short ones, bad emails and duplicates', async () => {
      const run = (args: string[], input: string) => spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...p.env }, cwd: ROOT, encoding: 'utf8', input });
      const chosen = run(['admin', 'create', '--email', 'ana@example.com', '--password-stdin', '--json'], 'a long chosen passphrase\n');
      assert.equal(chosen.status, 0, chosen.stderr);
      assert.deepEqual(Object.keys(JSON.parse(chosen.stdout)).sort(), ['email', 'id'], 'a chosen password is not printed');
      const short = run(['admin', 'create', '--email', 'bo@example.com', '--password-stdin'], 'short\n');
      assert.equal(short.status, 2);
      assert.match(short.stderr, /at least 12 characters/);
      assert.ok(!short.stderr.includes('short\n') && !short.stdout.includes('short'));
      assert.equal(run(['admin', 'create', '--email', 'not-an-email', '--password-stdin'], 'a long chosen passphrase').status, 2);
      const dup = run(['admin', 'create', '--email', 'ANA@example.com', '--password-stdin'], 'another long passphrase');
      assert.equal(dup.status, 1);
      assert.match(dup.stderr, /already exists/);
      const help = p.run(['--help']);
      assert.match(help.stdout, /admin create --email EMAIL/);
      assert.equal(p.run(['admin', '--help']).status, 0);
    });
  });
}
