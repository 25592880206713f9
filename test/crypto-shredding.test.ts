import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from './support/orders.ts';
import { cof } from './support/cof.ts';
import { Vault } from '../src/vault/vault.ts';
import { masterKeyFrom } from '../src/vault/master-key.ts';
import { tokenAad } from '../src/services/tokens.ts';
import { cardAad } from '../src/services/customers.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'tessera.js');
const basic = (m: MerchantCredentials) => 'Basic ' + Buffer.from(`${m.publicKey}:${m.privateKey}`).toString('base64');

for (const engine of ENGINES) {
  describe(`crypto-shredding (tessera merchants delete --shred) on ${engine}`, () => {
    let t: Instance;
    // Asynchronous: this process's worker must keep committing (and releasing the audit chain head) meanwhile.
    const tessera = (args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [BIN, ...args], {
          env: { ...process.env, TESSERA_DATA_DIR: t.dataDir, LOG_LEVEL: 'warn', ...(t.databaseUrl ? { DATABASE_URL: t.databaseUrl } : {}) },
          cwd: ROOT,
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (status) => resolve({ status, stdout, stderr }));
      });
    /** A vault with nothing in memory, as a fresh process (or an attacker with the master key and a copy of the database) has. */
    const freshVault = () => new Vault(t.deps.db.kysely, masterKeyFrom(Buffer.from(readFileSync(join(t.dataDir, 'master.key'), 'utf8').trim(), 'base64')));

    before(async () => {
      t = await startInstance(engine);
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    /** A merchant holding a saved card, a permanent token, a temporary token and a paid order. */
    async function merchantWithCardData(name: string) {
      const m = await createMerchant(t, name);
      const customer = await call(t, m.jwt, 'POST', '/api/customers', { body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' } });
      const card = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard() });
      assert.equal(card.status, 201, card.text);
      const permanent = await permanentToken(t, m);
      await temporaryToken(t, m);
      assert.equal((await createOrder(t, m, orderBody({ token: permanent }))).status, 201);
      return m;
    }

    async function readBack(vault: Vault, merchantId: string) {
      const cards = await t.deps.db.kysely.selectFrom('cards').select(['id', 'card_ct']).where('merchant_id', '=', merchantId).execute();
      const tokens = await t.deps.db.kysely.selectFrom('tokens').select(['token_hash', 'card_ct']).where('merchant_id', '=', merchantId).execute();
      const attempts = [
        ...cards.map((c) => () => vault.decryptCard(merchantId, c.card_ct, cardAad(c.id))),
        ...tokens.filter((r) => r.card_ct).map((r) => () => vault.decryptCard(merchantId, r.card_ct!, tokenAad(r.token_hash))),
      ];
      assert.ok(attempts.length >= 3, 'the merchant holds a card and tokens');
      let readable = 0;
      for (const attempt of attempts) {
        try {
          await attempt();
          readable += 1;
        } catch {
          // unrecoverable
        }
      }
      return { rows: attempts.length, readable };
    }

    it('destroys the merchant\'s data keys from another process: every stored card and token fails to decrypt, its credentials answer 401', async () => {
      const m = await merchantWithCardData('Shredded');
      const keep = await merchantWithCardData('Kept');
      assert.deepEqual(await readBack(freshVault(), m.id), { rows: (await readBack(freshVault(), m.id)).rows, readable: (await readBack(freshVault(), m.id)).rows });

      const res = await tessera(['merchants', 'delete', m.id, '--shred', '--json']);
      assert.equal(res.status, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { id: m.id, deleted: true, shredded: true, dataKeysDestroyed: 2 });

      const keys = await t.deps.db.kysely.selectFrom('data_keys').select('tenant_id').where('tenant_id', '=', m.id).execute();
      assert.deepEqual(keys, []);
      const after = await readBack(freshVault(), m.id);
      assert.equal(after.readable, 0, `${after.readable} of ${after.rows} rows still decrypt`);

      // The serving process refuses every credential of the merchant at once (even its live JWT).
      // A live JWT is refused once the server's one-second view of the merchant's status lapses.
      await eventually(async () => ((await call(t, m.jwt, 'GET', '/api/audit')).status === 401 ? true : undefined), 3000, 'the JWT to be refused');
      assert.equal((await call(t, undefined, 'POST', '/api/authorizations/token', { headers: { authorization: basic(m) } })).status, 401);
      assert.equal((await cof(t, { id: m.id, privateKey: m.privateKey, webhookSecret: '', auth: `APIKEY ${m.privateKey}` }, 'GET', '/cof/v1/tokens/x')).status, 401);

      // Another merchant is untouched.
      const kept = await readBack(freshVault(), keep.id);
      assert.equal(kept.readable, kept.rows);
      assert.equal((await call(t, keep.jwt, 'POST', '/api/tokens', { body: rawCard() })).status, 201);

      // The shredding is itself in the audit log, and the chain still verifies.
      const rec = await t.deps.db.kysely.selectFrom('audit_log').selectAll().where('tenant_id', '=', m.id).where('operation', '=', 'merchant.shred').executeTakeFirst();
      assert.ok(rec);
      assert.equal((await t.deps.audit.verify()).ok, true);
    });

    it('in the serving process, forgets the unwrapped keys too: nothing decrypts from memory', async () => {
      const m = await merchantWithCardData('InProcess');
      const row = await t.deps.db.kysely.selectFrom('cards').select(['id', 'card_ct']).where('merchant_id', '=', m.id).executeTakeFirstOrThrow();
      await t.deps.vault.decryptCard(m.id, row.card_ct, cardAad(row.id));
      await t.deps.services.merchants.delete(m.id, { shred: true });
      await assert.rejects(() => t.deps.vault.decryptCard(m.id, row.card_ct, cardAad(row.id)));
    });

    it('deletes without shredding when not asked to, and refuses bad usage', async () => {
      const m = await createMerchant(t, 'Closed');
      const res = await tessera(['merchants', 'delete', m.id, '--json']);
      assert.equal(res.status, 0, res.stderr);
      assert.deepEqual(JSON.parse(res.stdout), { id: m.id, deleted: true, shredded: false, dataKeysDestroyed: 0 });
      // A live JWT is refused once the server's one-second view of the merchant's status lapses.
      await eventually(async () => ((await call(t, m.jwt, 'GET', '/api/audit')).status === 401 ? true : undefined), 3000, 'the JWT to be refused');
      assert.equal((await tessera(['merchants', 'delete'])).status, 2);
      assert.equal((await tessera(['merchants', 'delete', 'no-such-merchant', '--shred'])).status, 1);
    });
  });
}
