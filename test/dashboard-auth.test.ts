import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeAndScan, ENGINES, startInstance, type Instance } from './support/harness.ts';
import { createOperator, csrfOf, ORIGIN, page, postForm, postLogin, signIn, type Operator } from './support/dashboard.ts';

for (const engine of ENGINES) {
  describe(`operator dashboard sign-in on ${engine}`, () => {
    let t: Instance;
    let op: Operator;

    before(async () => {
      t = await startInstance(engine, { TESSERA_AUTH_FAILURES_MAX: '3' });
      op = await createOperator(t);
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), []);
    });

    it('sends anyone without a session to the sign-in page, and a forged cookie too', async () => {
      for (const cookie of [undefined, 'tessera_operator=' + 'A'.repeat(43), 'tessera_operator=<script>', 'other=1']) {
        const res = await page(t, cookie, '/dashboard/tokens');
        assert.equal(res.statusCode, 303, String(cookie));
        assert.equal(res.headers.location, '/dashboard/login');
      }
      const json = await page(t, undefined, '/dashboard/batches.json');
      assert.deepEqual([json.statusCode, json.json().code], [401, 'unauthorized']);
      const login = await page(t, undefined, '/dashboard/login');
      assert.equal(login.statusCode, 200);
      assert.match(login.body, /<form method="post" action="\/dashboard\/login"/);
    });

    it('refuses a wrong password or an unknown email with 401 and the same message, and sets no cookie', async () => {
      const wrong = await postLogin(t, op.email, 'not the password at all');
      const unknown = await postLogin(t, 'nobody@example.com', op.password);
      for (const res of [wrong, unknown]) {
        assert.equal(res.statusCode, 401);
        assert.match(res.body, /Wrong email or password\./);
        assert.equal(res.headers['set-cookie'], undefined);
      }
      assert.ok(!wrong.body.includes('not the password at all'), 'the password is not echoed');
    });

    it('signs in with a HttpOnly, SameSite=Strict cookie scoped to /dashboard (not Secure over plain http) and stores only its hash', async () => {
      const res = await postLogin(t, op.email.toUpperCase(), op.password);
      assert.equal(res.statusCode, 303, res.body);
      assert.equal(res.headers.location, '/dashboard');
      const cookie = String(res.headers['set-cookie']);
      assert.match(cookie, /^tessera_operator=[A-Za-z0-9_-]{43}; Path=\/dashboard; Max-Age=28800; HttpOnly; SameSite=Strict$/);
      const id = cookie.split(';')[0]!.split('=')[1]!;
      assert.ok(!(await t.storedText()).includes(id), 'the session id itself is not in the database');
      const overview = await page(t, cookie.split(';')[0], '/dashboard');
      assert.equal(overview.statusCode, 200);
      assert.match(overview.body, new RegExp(op.email.replace('.', '\\.')));
      assert.match(String(overview.headers['content-security-policy']), /default-src 'none'; script-src 'self'; style-src 'self'/);
      assert.equal(overview.headers['cache-control'], 'no-store');
    });

    it('marks the cookie Secure when the dashboard is served over https', async () => {
      const https = await startInstance(engine, { TESSERA_PUBLIC_URL: 'https://tessera.example.com' });
      try {
        const o = await createOperator(https, 'tls@example.com');
        const res = await postLogin(https, o.email, o.password, { origin: 'https://tessera.example.com' });
        assert.equal(res.statusCode, 303, res.body);
        assert.match(String(res.headers['set-cookie']), /; HttpOnly; SameSite=Strict; Secure$/);
      } finally {
        await https.close();
      }
    });

    it('refuses a sign-in posted from another origin', async () => {
      const res = await postLogin(t, op.email, op.password, { origin: 'https://evil.example' });
      assert.equal(res.statusCode, 403);
      assert.match(res.body, /id="error-code">csrf_failed</);
      assert.match(res.body, /id="error-param">origin</);
      assert.equal(res.headers['set-cookie'], undefined);
    });

    it('refuses state-changing forms without the session CSRF token, with a wrong one, another session’s, or from another origin (403)', async () => {
      const cookie = await signIn(t, op);
      const other = await signIn(t, op);
      const otherToken = csrfOf((await page(t, other, '/dashboard')).body);
      const token = csrfOf((await page(t, cookie, '/dashboard')).body);
      assert.notEqual(token, otherToken);
      const cases: [Record<string, string>, Record<string, string>, string][] = [
        [{ delivery: 'msg_x' }, { origin: ORIGIN }, '_csrf'],
        [{ delivery: 'msg_x', _csrf: 'forged' }, { origin: ORIGIN }, '_csrf'],
        [{ delivery: 'msg_x', _csrf: otherToken }, { origin: ORIGIN }, '_csrf'],
        [{ delivery: 'msg_x', _csrf: token }, { origin: 'https://evil.example' }, 'origin'],
        [{ delivery: 'msg_x', _csrf: token }, {}, 'origin'],
      ];
      for (const [fields, headers, param] of cases) {
        const res = await postForm(t, cookie, '/dashboard/deliveries/retry', fields, headers);
        assert.equal(res.statusCode, 403, JSON.stringify(fields));
        assert.match(res.body, /id="error-code">csrf_failed</);
        assert.match(res.body, new RegExp(`id="error-param">${param}<`));
      }
      const logout = await postForm(t, cookie, '/dashboard/logout', {});
      assert.equal(logout.statusCode, 403, 'logout needs the token too');
      // With the token and a Referer instead of Origin, the form goes through (and the id is checked next).
      const ok = await postForm(t, cookie, '/dashboard/deliveries/retry', { delivery: 'msg_nope', _csrf: token }, { referer: `${ORIGIN}/dashboard/deliveries` });
      assert.equal(ok.statusCode, 404);
      assert.match(ok.body, /id="error-code">delivery_not_found</);
    });

    it('logs out: the session is deleted server-side and the cookie cleared', async () => {
      const cookie = await signIn(t, op);
      const token = csrfOf((await page(t, cookie, '/dashboard')).body);
      const res = await postForm(t, cookie, '/dashboard/logout', { _csrf: token });
      assert.equal(res.statusCode, 303);
      assert.equal(res.headers.location, '/dashboard/login');
      assert.match(String(res.headers['set-cookie']), /^tessera_operator=; Path=\/dashboard; Max-Age=0; HttpOnly; SameSite=Strict/);
      assert.equal((await page(t, cookie, '/dashboard')).statusCode, 303, 'the old cookie no longer works');
    });

    it('ends a session at its expiry', async () => {
      const cookie = await signIn(t, op);
      assert.equal((await page(t, cookie, '/dashboard')).statusCode, 200);
      await t.deps.db.kysely.updateTable('operator_sessions').set({ expires_at: Date.now() - 1 }).execute();
      const res = await page(t, cookie, '/dashboard');
      assert.deepEqual([res.statusCode, res.headers.location], [303, '/dashboard/login']);
    });

    it("ends every session of an operator who is disabled, and keeps other operators' sessions apart", async () => {
      const leaver = await createOperator(t, 'leaver@example.com');
      const theirs = await signIn(t, leaver);
      const mine = await signIn(t, op);
      assert.match((await page(t, theirs, '/dashboard')).body, /leaver@example\.com/, 'each session is its own operator');
      await t.deps.db.kysely.updateTable('operators').set({ status: 'disabled' }).where('email', '=', leaver.email).execute();
      assert.equal((await page(t, theirs, '/dashboard')).statusCode, 303);
      assert.equal((await postLogin(t, leaver.email, leaver.password)).statusCode, 401, 'a disabled operator cannot sign in');
      assert.equal((await page(t, mine, '/dashboard')).statusCode, 200);
    });

    it('answers 429 after too many failed sign-ins for one email, before checking the password', async () => {
      const victim = await createOperator(t, 'victim@example.com');
      for (let i = 0; i < 3; i++) assert.equal((await postLogin(t, victim.email, `wrong-${i}-password`)).statusCode, 401);
      const limited = await postLogin(t, victim.email, victim.password);
      assert.equal(limited.statusCode, 429, 'even the right password waits');
      assert.ok(Number(limited.headers['retry-after']) > 0);
      assert.match(limited.body, /Too many failed sign-ins/);
      assert.equal(limited.headers['set-cookie'], undefined);
      // Another operator signing in from the same address is not locked out by it.
      assert.equal((await postLogin(t, op.email, op.password)).statusCode, 303);
    });

    it('answers bad filters with a 400 naming the field, never a 500', async () => {
      const cookie = await signIn(t, op);
      const cases: [string, string, string][] = [
        ['/dashboard/tokens?state=weird', 'invalid_field', 'state'],
        ['/dashboard/tokens?kind=network&state=active', 'invalid_field', 'state'],
        ['/dashboard/tokens?merchant=%3Cscript%3E', 'invalid_field', 'merchant'],
        ['/dashboard/orders?before=yesterday', 'invalid_cursor', 'before'],
        ['/dashboard/deliveries?status=dead&status=pending', 'invalid_field', 'status'],
      ];
      for (const [url, code, param] of cases) {
        const res = await page(t, cookie, url);
        assert.equal(res.statusCode, 400, url);
        assert.match(res.body, new RegExp(`id="error-code">${code}<`), url);
        assert.match(res.body, new RegExp(`id="error-param">${param}<`), url);
        assert.ok(!res.body.includes('<script>'), 'nothing reflected unescaped');
      }
      const token = csrfOf((await page(t, cookie, '/dashboard')).body);
      const missing = await postForm(t, cookie, '/dashboard/tokens/vault/delete', { _csrf: token, merchant: 'm1' });
      assert.equal(missing.statusCode, 400);
      assert.match(missing.body, /id="error-param">token</);
      assert.equal((await page(t, cookie, '/dashboard/nope')).statusCode, 404);
    });
  });
}
