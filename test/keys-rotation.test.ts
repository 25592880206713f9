import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from './support/orders.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera } from './support/cof.ts';
import { createIssuer, encryptForTessera, registerCard } from './support/issuer.ts';
import { randomBytes } from 'node:crypto';
import { parseMasterKeys } from '../src/vault/kek.ts';
import { MasterKeyError } from '../src/vault/master-key.ts';
import { issuerCardAad } from '../src/services/issuer-cards.ts';
import { Vault } from '../src/vault/vault.ts';
import { LocalKeyEncryptionKeys } from '../src/vault/kek.ts';
import { CIPHERTEXT_COLUMNS, nextCiphertexts } from '../src/storage/repos/ciphertexts.ts';
import { listActiveDataVersions } from '../src/storage/repos/data-keys.ts';
import { createKeyRotationService } from '../src/services/key-rotation.ts';
import { cardAad } from '../src/services/customers.ts';
import { issuerTenant } from '../src/domain/issuer.ts';
import { TesseraError } from '../src/domain/errors.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'tessera.js');
const ENV = { TESSERA_KEY_VERSION_TTL_S: '1', TESSERA_JWKS_GRACE_S: '8', TESSERA_KEY_ROTATION_BATCH: '20' };

for (const engine of ENGINES) {
  describe(`key management (tessera keys, jwks grace) on ${engine}`, () => {
    let t: Instance;
    const cliOutput: string[] = [];
    /** The CLI in another process, against this instance's database and data dir (the serving process keeps running). */
    const tessera = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], {
          env: { ...process.env, ...ENV, TESSERA_DATA_DIR: t.dataDir, LOG_LEVEL: 'warn', ...(t.databaseUrl ? { DATABASE_URL: t.databaseUrl } : {}) },
          cwd: ROOT,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => {
          cliOutput.push(stdout, stderr);
          resolve({ status, stdout, stderr });
        });
      });
    const keyFileSecrets = () => readFileSync(join(t.dataDir, 'master.key'), 'utf8').split('\n').filter(Boolean).map((l) => l.replace(/^v\d+:/, ''));
    const seenSecrets = new Set<string>();

    /** Every stored ciphertext is under its tenant's active data-key version; returns how many there are. */
    async function everyCiphertextUnderActiveVersion(): Promise<number> {
      const active = await listActiveDataVersions(t.deps.db.kysely);
      let n = 0;
      for (const c of CIPHERTEXT_COLUMNS) {
        let cursor: (string | number)[] | null = null;
        for (;;) {
          const rows = await nextCiphertexts(t.deps.db.kysely, c, cursor, 500);
          if (rows.length === 0) break;
          for (const r of rows) {
            const tenant = c.table.startsWith('issuer') ? issuerTenant(r.tenant) : r.tenant;
            assert.equal(r.ct.slice(0, r.ct.indexOf('.')), `v${active.get(tenant)}`, `${c.table}.${c.column} of ${tenant}`);
            n++;
          }
          cursor = rows[rows.length - 1]!.key;
        }
      }
      return n;
    }

    before(async () => {
      t = await startInstance(engine, ENV);
      for (const s of keyFileSecrets()) seenSecrets.add(s);
    });
    after(async () => {
      for (const s of keyFileSecrets()) seenSecrets.add(s);
      const logs = t.logs.join('\n') + cliOutput.join('\n');
      for (const secret of seenSecrets) assert.ok(!logs.includes(secret), 'no master-key material in logs or CLI output');
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('knows every *_ct column of the schema (a new one must be re-encrypted by data rotations too)', () => {
      const schema = readFileSync(join(ROOT, 'src/storage/schema.ts'), 'utf8');
      const declared = new Set<string>();
      let table = '';
      for (const line of schema.split('\n')) {
        const m = /^export interface (\w+)Table \{/.exec(line);
        if (m) table = m[1]!.replace(/[A-Z]/g, (ch, i) => (i ? '_' : '') + ch.toLowerCase());
        const col = /^\s+(\w+_ct)\??:/.exec(line);
        if (col && table !== 'service_keys' && table !== 'sandbox_tsp_tokens') declared.add(`${table}.${col[1]}`);
      }
      assert.deepEqual([...declared].sort(), CIPHERTEXT_COLUMNS.map((c) => `${c.table}.${c.column}`).sort());
    });

    it('keys rotate adds a master-key version and re-wraps every data key online; fingerprints stay; the old version retires only when unused', async () => {
      const m = await createMerchant(t, 'Rewrap');
      const customer = await call(t, m.jwt, 'POST', '/api/customers', { body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' } });
      const saved = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard() });
      assert.equal(saved.status, 201, saved.text);
      const permanent = await permanentToken(t, m);

      const early = await tessera(['keys', 'retire', '--version', '1', '--json']);
      assert.equal(early.status, 1);
      assert.match(early.stderr, /active master key/);

      const rotated = await tessera(['keys', 'rotate', '--json']);
      assert.equal(rotated.status, 0, rotated.stderr);
      const r = JSON.parse(rotated.stdout);
      assert.equal(r.added.version, 2);
      assert.equal(r.left, 0);
      const keyCount = await t.deps.db.kysely.selectFrom('data_keys').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      assert.equal(r.rewrapped, Number(keyCount.n), 'every data key (and the root secret) re-wrapped');
      assert.match(readFileSync(join(t.dataDir, 'master.key'), 'utf8'), /^v2:\S+\nv1:\S+\n$/);

      const status = JSON.parse((await tessera(['keys', 'status', '--json'])).stdout);
      assert.equal(status.masterKey.active, 2);
      assert.deepEqual(status.masterKey.versions.map((v: { version: number; dataKeys: number }) => [v.version, v.dataKeys]), [[2, Number(keyCount.n)], [1, 0]]);

      // A fresh process (only the key file and the database) reads the card back.
      const row = await t.deps.db.kysely.selectFrom('cards').select(['id', 'card_ct']).where('merchant_id', '=', m.id).executeTakeFirstOrThrow();
      const fresh = new Vault(t.deps.db.kysely, new LocalKeyEncryptionKeys({ configured: undefined, dataDir: t.dataDir, env: 'sandbox', warn: () => {} }));
      assert.equal((await fresh.decryptCard(m.id, row.card_ct, cardAad(row.id))).pan, CARDS.visa);

      // The serving process never stopped: the same card is recognised (same fingerprint), the old token pays.
      const again = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard() });
      assert.equal(again.status, 200, again.text);
      assert.equal(again.body.fingerprint, saved.body.fingerprint);
      assert.equal((await createOrder(t, m, orderBody({ token: permanent }))).status, 201);

      assert.equal((await tessera(['keys', 'retire', '--version', '2'])).status, 1, 'the active version cannot be retired');
      const retired = await tessera(['keys', 'retire', '--version', '1', '--json']);
      assert.equal(retired.status, 0, retired.stderr);
      assert.match(readFileSync(join(t.dataDir, 'master.key'), 'utf8'), /^v2:\S+\n$/);
      assert.equal((await tessera(['keys', 'retire'])).status, 2, 'usage error without --version');
      // Still serving after the old version is gone.
      assert.equal((await createOrder(t, m, orderBody({ token: permanent }))).status, 201);
    });

    it('keys rotate --data re-encrypts every ciphertext in the background while tokens are created and used throughout; old data keys are then deleted', async () => {
      const m = await createMerchant(t, 'Rotate');
      const before: string[] = [];
      for (let i = 0; i < 5; i++) before.push(await permanentToken(t, m));
      for (let i = 0; i < 5; i++) await temporaryToken(t, m, { number: CARDS.mastercard, cvc: '987' });
      const customer = await call(t, m.jwt, 'POST', '/api/customers', { body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' } });
      const saved = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard({ number: CARDS.amex, cvc: '4321' }) });
      assert.equal(saved.status, 201, saved.text);
      const psp = await createCofMerchant(t);
      const nt = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'ON_FILE' } });
      assert.equal(nt.status, 201, nt.text);
      const issuer = await createIssuer(t);
      const issuerCard = await registerCard(t, issuer, CARDS.discover);

      // Traffic throughout: new temporary tokens paid at once, and orders paid with tokens made before.
      let stop = false;
      const failures: string[] = [];
      let operations = 0;
      let whileRunning = 0;
      const during: string[] = [];
      const traffic = (async () => {
        for (let i = 0; !stop; i++) {
          const temp = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() });
          if (temp.status !== 201) failures.push(`token ${temp.status} ${temp.text}`);
          else during.push(temp.body.token);
          const paid = await createOrder(t, m, orderBody({ token: temp.body.token }), { 'Idempotency-Key': `rot-${i}` });
          if (paid.status !== 201) failures.push(`order ${paid.status} ${paid.text}`);
          const old = await createOrder(t, m, orderBody({ token: before[i % before.length] }));
          if (old.status !== 201) failures.push(`old token ${old.status} ${old.text}`);
          operations += 3;
          const running = await t.deps.db.kysely.selectFrom('key_rotations').select('id').where('status', '=', 'running').executeTakeFirst();
          if (running) whileRunning += 3;
        }
      })();

      const res = await tessera(['keys', 'rotate', '--data', '--json']);
      stop = true;
      await traffic;
      assert.equal(res.status, 0, res.stderr);
      const done = JSON.parse(res.stdout);
      assert.equal(done.status, 'done');
      assert.ok(done.rewritten >= 12, `re-encrypted ${done.rewritten}`);
      assert.equal(done.stuckTenants, 0);
      assert.ok(done.oldKeysDeleted >= 3, 'every tenant\'s old data key deleted');
      assert.deepEqual(failures, [], `no request failed during the rotation; errors logged: ${t.logs.filter((l) => l.includes('"level":50')).join('\n')}`);
      assert.ok(whileRunning >= 6, `traffic ran throughout the rotation (${whileRunning} of ${operations} operations while it ran)`);

      // Every row is under the new version, no old data key is left, and nothing was lost.
      assert.ok((await everyCiphertextUnderActiveVersion()) >= done.total);
      const old = await t.deps.db.kysely.selectFrom('data_keys').select('tenant_id').where('status', '=', 'retiring').execute();
      assert.deepEqual(old, []);
      for (const token of before) assert.equal((await createOrder(t, m, orderBody({ token }))).status, 201);
      const again = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard({ number: CARDS.amex, cvc: '4321' }) });
      assert.equal(again.body.fingerprint, saved.body.fingerprint, 'fingerprints survive a data rotation');
      const meta = await cof(t, psp, 'GET', `/cof/v1/tokens/${nt.body.tokenId}`);
      assert.equal(meta.status, 200);
      const icRow = await t.deps.db.kysely.selectFrom('issuer_cards').select('card_ct').where('id', '=', issuerCard.cardId).executeTakeFirstOrThrow();
      const fresh = new Vault(t.deps.db.kysely, new LocalKeyEncryptionKeys({ configured: undefined, dataDir: t.dataDir, env: 'sandbox', warn: () => {} }));
      assert.equal((await fresh.decryptCard(issuerTenant(issuer.issuerId), icRow.card_ct, issuerCardAad(issuer.issuerId, issuerCard.cardId))).pan, CARDS.discover);
      // An Idempotency-Key answered before the rotation replays from its re-encrypted stored answer.
      const replay = await createOrder(t, m, orderBody({ token: during[0] }), { 'Idempotency-Key': 'rot-0' });
      assert.equal(replay.status, 201);
      assert.equal((await tessera(['keys', 'rotate', '--data', '--no-wait', '--json'])).status, 0, 'a new rotation may start once the last is done');
      await eventually(async () => ((await t.deps.services.keyRotation.progress())?.status === 'done' ? true : undefined), 15_000, 'the second rotation');
    });

    it('a data rotation interrupted by a crash resumes where it stopped after a restart', async () => {
      const m = await createMerchant(t, 'Crash');
      for (let i = 0; i < 30; i++) await temporaryToken(t, m);
      // The worker is stopped, and a slow hand does a few steps: progress is persisted per step.
      await t.deps.worker.stop();
      const started = await t.deps.services.keyRotation.startDataRotation();
      const slow = createKeyRotationService({ db: t.deps.db, vault: t.deps.vault, log: t.deps.log, now: Date.now, nudge: () => {}, batchSize: 5, sliceMs: 1 });
      await new Promise((r) => setTimeout(r, 1100));
      for (let i = 0; i < 4; i++) await slow.process({ id: started.id });
      const partial = await t.deps.services.keyRotation.progress(started.id);
      assert.equal(partial?.status, 'running');
      assert.ok(partial!.rewritten > 0 && partial!.rewritten < started.total, `partial progress ${partial?.rewritten}/${started.total}`);

      t = await t.restart(ENV);
      await eventually(async () => ((await t.deps.services.keyRotation.progress(started.id))?.status === 'done' ? true : undefined), 20_000, 'the rotation to finish');
      const final = await t.deps.services.keyRotation.progress(started.id);
      assert.ok(final!.rewritten >= started.total - 1, `rewritten ${final!.rewritten} of ${started.total}`);
      await everyCiphertextUnderActiveVersion();
      assert.equal((await temporaryToken(t, m)).length > 0, true);
    });

    it('keys rotate --data finishes on its own when no worker is running, printing plain progress lines off a terminal', async () => {
      const m = await createMerchant(t, 'NoWorker');
      for (let i = 0; i < 5; i++) await temporaryToken(t, m);
      await t.deps.worker.stop();
      try {
        const res = await tessera(['keys', 'rotate', '--data']);
        assert.equal(res.status, 0, res.stderr);
        assert.match(res.stdout, /^Done: \d+ ciphertexts re-encrypted, \d+ old data keys deleted\.\n$/);
        assert.match(res.stderr, /pass 1: starts in \d+s, once every process uses the new data keys/);
        assert.match(res.stderr, /pass \d+: \d+\/\d+ records examined, \d+ re-encrypted, \d+\/s/);
        assert.doesNotMatch(res.stderr, /\r|\x1b/, 'no terminal control characters when stderr is not a terminal');
      } finally {
        t.deps.worker.start();
      }
      await everyCiphertextUnderActiveVersion();
      const status = JSON.parse((await tessera(['keys', 'status', '--json'])).stdout);
      assert.equal(status.rotation.status, 'done');
      assert.ok(status.dataKeys.every((d: { status: string }) => d.status === 'active'), 'no retiring data key left');
    });

    it('a rotating CLI killed with SIGKILL mid-rotation leaves a job that the worker resumes and finishes', async () => {
      const m = await createMerchant(t, 'Killed');
      for (let i = 0; i < 40; i++) await temporaryToken(t, m);
      await t.deps.worker.stop();
      const child = spawn(process.execPath, [BIN, 'keys', 'rotate', '--data', '--json'], {
        env: { ...process.env, ...ENV, TESSERA_KEY_ROTATION_BATCH: '3', TESSERA_DATA_DIR: t.dataDir, LOG_LEVEL: 'warn', ...(t.databaseUrl ? { DATABASE_URL: t.databaseUrl } : {}) },
        cwd: ROOT,
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      try {
        const mid = await eventually(async () => {
          const r = await t.deps.db.kysely.selectFrom('key_rotations').selectAll().where('status', '=', 'running').executeTakeFirst();
          return r && Number(r.rewritten) > 0 ? r : undefined;
        }, 20_000, 'the CLI to re-encrypt something');
        child.kill('SIGKILL');
        await exited;
        const killedAt = await t.deps.services.keyRotation.progress(mid.id);
        assert.equal(killedAt?.status, 'running', 'killed mid-rotation');
        t.deps.worker.start();
        await eventually(async () => ((await t.deps.services.keyRotation.progress(mid.id))?.status === 'done' ? true : undefined), 30_000, 'the worker to finish the rotation');
        const final = await t.deps.services.keyRotation.progress(mid.id);
        assert.ok(final!.rewritten >= killedAt!.rewritten);
        await everyCiphertextUnderActiveVersion();
        assert.equal((await createOrder(t, m, orderBody({ token: await temporaryToken(t, m) }))).status, 201);
      } finally {
        child.kill('SIGKILL');
        t.deps.worker.start();
      }
    });

    it('JWKS rotation: the old kid still decrypts during the grace period, then is retired by the job and answers unknown_key', async () => {
      const psp = await createCofMerchant(t);
      const oldJwe = await encryptToTessera(t, cardPayload(CARDS.mastercard));
      const oldEcJwe = await encryptForTessera(t, { pan: CARDS.visa, exp: '1230' });
      const oldKid = (await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys[0].kid;
      // Rotated here, not by the CLI, so the grace period is not eaten by a process start on a busy machine.
      const newKid = await t.deps.keys.rotate();
      const newEcKid = await t.deps.issuerKeys.rotate();
      const jwks = (await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys.map((k: { kid: string }) => k.kid);
      assert.deepEqual(jwks, [newKid, oldKid], 'the new kid is published first at once, the old one still');
      assert.equal((await call(t, undefined, 'GET', '/banking/v1/keys')).body.keys[0].kid, newEcKid);
      const during = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: oldJwe, source: 'ON_FILE' } });
      assert.equal(during.status, 201, during.text);
      assert.ok(await t.deps.issuerKeys.decrypt(oldEcJwe));
      const listed = await tessera(['jwks', 'list', '--face', 'banking', '--json']);
      assert.equal(listed.status, 0, listed.stderr);
      const states = JSON.parse(listed.stdout).states as { kid: string; status: string; retireAfter: string | null }[];
      assert.equal(states[0]!.kid, newEcKid);
      assert.equal(states[1]!.status, 'decrypt_only');
      assert.ok(states[1]!.retireAfter, 'the old EC key shows when it will be retired');
      assert.equal((await tessera(['jwks', 'rotate', '--face', 'nope'])).status, 2);

      await t.deps.scheduleKeyJobs();
      await eventually(async () => {
        const row = await t.deps.db.kysely.selectFrom('service_keys').select('status').where('kid', '=', oldKid).executeTakeFirstOrThrow();
        return row.status === 'retired' ? true : undefined;
      }, 20_000, 'the old key to be retired by the job');
      const afterGrace = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: oldJwe, source: 'ON_FILE' } });
      assert.equal(afterGrace.status, 400);
      assert.equal(afterGrace.body.errorCode, 'unknown_key');
      assert.ok(!(await call(t, undefined, 'GET', '/cof/v1/keys')).body.keys.some((k: { kid: string }) => k.kid === oldKid));
      await eventually(async () => {
        try {
          await t.deps.issuerKeys.decrypt(oldEcJwe);
          return undefined;
        } catch (err) {
          return err instanceof TesseraError && err.code === 'unknown_key' ? true : undefined;
        }
      }, 10_000, 'the old EC key to stop decrypting');
      const fresh = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.mastercard)), source: 'ON_FILE' } });
      assert.equal(fresh.status, 201, fresh.text);
    });
  });
}

describe('TESSERA_MASTER_KEY versions', () => {
  it('parses vN:<base64> lists (first active, highest) and the bare single-key format as version 1', () => {
    const a = randomBytes(32).toString('base64');
    const b = randomBytes(32).toString('base64');
    assert.deepEqual(parseMasterKeys(a).keys.map((k) => k.version), [1]);
    const two = parseMasterKeys(`v2:${b},v1:${a}`);
    assert.deepEqual(two.keys.map((k) => k.version), [2, 1]);
    assert.equal(two.keys[1]!.key.id, parseMasterKeys(a).keys[0]!.key.id, 'v1 is the same key as the bare format');
    assert.throws(() => parseMasterKeys(`v1:${a},v2:${b}`), MasterKeyError, 'the active version must be the highest');
    assert.throws(() => parseMasterKeys(`v2:${b},v2:${a}`), MasterKeyError);
    assert.throws(() => parseMasterKeys(`v2:${b},${a}`), MasterKeyError);
    assert.throws(() => parseMasterKeys(`v2:${Buffer.alloc(16).toString('base64')}`), MasterKeyError);
    for (const bad of [`v1:${a},v2:${b}`, `v2:${b},v2:${a}`]) {
      try {
        parseMasterKeys(bad);
      } catch (err) {
        assert.ok(!String((err as Error).message).includes(a) && !String((err as Error).message).includes(b), 'errors never echo key material');
      }
    }
  });
});

for (const engine of ENGINES) {
  describe(`master-key rotation through TESSERA_MASTER_KEY (production style) on ${engine}`, () => {
    let t: Instance;
    const k1 = randomBytes(32).toString('base64');
    const k2 = randomBytes(32).toString('base64');
    const out: string[] = [];
    const tessera = (masterKey: string, args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], {
          env: { ...process.env, TESSERA_MASTER_KEY: masterKey, TESSERA_DATA_DIR: t.dataDir, LOG_LEVEL: 'warn', ...(t.databaseUrl ? { DATABASE_URL: t.databaseUrl } : {}) },
          cwd: ROOT,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => {
          out.push(stdout, stderr);
          resolve({ status, stdout, stderr });
        });
      });
    before(async () => {
      t = await startInstance(engine, { TESSERA_MASTER_KEY: k1 });
    });
    after(async () => {
      const text = t.logs.join('\n') + out.join('\n');
      assert.ok(!text.includes(k1) && !text.includes(k2), 'no master-key material in logs or CLI output');
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('never invents a key: the operator adds v2 first, restarts, rotates, retires v1; tokens, JWTs and derived keys survive', async () => {
      const m: MerchantCredentials = await createMerchant(t, 'Env');
      const permanent = await permanentToken(t, m);

      const refused = await tessera(k1, ['keys', 'rotate']);
      assert.equal(refused.status, 1);
      assert.match(refused.stderr, /openssl rand -base64 32/);
      assert.match(refused.stderr, /TESSERA_MASTER_KEY=v2:<new>,v1:<…>/);

      t = await t.restart({ TESSERA_MASTER_KEY: `v2:${k2},v1:${k1}` });
      // Already serving with both versions: new merchants' keys are wrapped by v2, old ones still by v1.
      const m2 = await createMerchant(t, 'Env2');
      const status = JSON.parse((await tessera(`v2:${k2},v1:${k1}`, ['keys', 'status', '--json'])).stdout);
      assert.equal(status.masterKey.active, 2);
      assert.ok(status.masterKey.versions.find((v: { version: number }) => v.version === 1).dataKeys > 0);
      assert.equal((await tessera(`v2:${k2},v1:${k1}`, ['keys', 'retire', '--version', '1'])).status, 1, 'v1 still wraps data keys');

      const rotated = await tessera(`v2:${k2},v1:${k1}`, ['keys', 'rotate', '--json']);
      assert.equal(rotated.status, 0, rotated.stderr);
      const r = JSON.parse(rotated.stdout);
      assert.equal(r.added, null);
      assert.ok(r.rewrapped >= 3, `re-wrapped ${r.rewrapped}`);
      assert.equal(r.left, 0);
      const retired = await tessera(`v2:${k2},v1:${k1}`, ['keys', 'retire', '--version', '1', '--json']);
      assert.equal(retired.status, 0, retired.stderr);
      assert.match(JSON.parse(retired.stdout).action, /remove it from TESSERA_MASTER_KEY/);

      t = await t.restart({ TESSERA_MASTER_KEY: `v2:${k2}` });
      // The merchant JWT issued under v1 still verifies: purpose-bound keys come from the root secret, not the KEK.
      assert.equal((await call(t, m.jwt, 'GET', `/api/tokens/${permanent}`)).status, 200);
      assert.equal((await createOrder(t, m, orderBody({ token: permanent }))).status, 201);
      assert.equal((await createOrder(t, m2, orderBody({ token: await temporaryToken(t, m2) }))).status, 201);
      const rows = await t.deps.db.kysely.selectFrom('data_keys').select('kek_id').execute();
      assert.ok(rows.every((row) => row.kek_id === t.deps.vault.masterKeyId), 'every data key wrapped by v2');
    });
  });
}
