import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMasterKey, masterKeyFrom, MasterKeyError } from '../src/vault/master-key.ts';
import { VaultIntegrityError } from '../src/vault/cipher.ts';
import { Vault } from '../src/vault/vault.ts';
import { CARDS } from './support/cards.ts';
import { closeAndScan, createMerchant, ENGINES, startInstance, type Instance } from './support/harness.ts';

const card = { pan: CARDS.visa, expMonth: '12', expYear: '2034', name: 'Ada' };

describe('master key', () => {
  it('is generated once into the data dir in sandbox mode, with a warning, and read back after', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-mk-'));
    try {
      const warnings: string[] = [];
      const first = loadMasterKey({ configured: undefined, dataDir: dir, env: 'sandbox', warn: (m) => warnings.push(m) });
      assert.equal(warnings.length, 1);
      assert.equal(statSync(join(dir, 'master.key')).mode & 0o777, 0o600);
      const second = loadMasterKey({ configured: undefined, dataDir: dir, env: 'sandbox', warn: (m) => warnings.push(m) });
      assert.equal(second.id, first.id);
      assert.equal(warnings.length, 1);
      assert.ok(!warnings[0]!.includes(readFileSync(join(dir, 'master.key'), 'utf8').trim()), 'the warning does not show the key');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('production refuses to start without TESSERA_MASTER_KEY', () => {
    assert.throws(() => loadMasterKey({ configured: undefined, dataDir: '/nonexistent', env: 'production', warn: () => {} }), MasterKeyError);
  });

  it('TESSERA_MASTER_KEY must be 32 bytes of base64', () => {
    assert.throws(() => loadMasterKey({ configured: Buffer.alloc(16).toString('base64'), dataDir: '/x', env: 'production', warn: () => {} }), MasterKeyError);
    const ok = loadMasterKey({ configured: Buffer.alloc(32, 1).toString('base64'), dataDir: '/x', env: 'production', warn: () => {} });
    assert.match(ok.id, /^[0-9a-f]{16}$/);
  });
});

for (const engine of ENGINES) {
  describe(`envelope encryption on ${engine}`, () => {
    let t: Instance;
    let a: string;
    let b: string;
    before(async () => {
      t = await startInstance(engine);
      a = (await createMerchant(t, 'A')).id;
      b = (await createMerchant(t, 'B')).id;
    });
    after(async () => assert.deepEqual(await closeAndScan(t), [], 'no test PAN in logs or database'));

    it('round-trips a card, and binds the ciphertext to its row (AAD) and its tenant', async () => {
      const ct = await t.deps.vault.encryptCard(a, card, 'token:1');
      assert.ok(!ct.includes(CARDS.visa));
      assert.deepEqual(await t.deps.vault.decryptCard(a, ct, 'token:1'), card);
      await assert.rejects(t.deps.vault.decryptCard(a, ct, 'token:2'), VaultIntegrityError);
      await assert.rejects(t.deps.vault.decryptCard(b, ct, 'token:1'), VaultIntegrityError);
      const tampered = ct.slice(0, -3) + (ct.endsWith('A') ? 'BBB' : 'AAA');
      await assert.rejects(t.deps.vault.decryptCard(a, tampered, 'token:1'), VaultIntegrityError);
    });

    it('encrypts the same card differently each time (random IV)', async () => {
      assert.notEqual(await t.deps.vault.encryptCard(a, card, 'x'), await t.deps.vault.encryptCard(a, card, 'x'));
    });

    it('keeps data keys only wrapped by the master key, one per tenant and purpose', async () => {
      const rows = await t.deps.db.kysely.selectFrom('data_keys').selectAll().where('tenant_id', '=', a).execute();
      assert.deepEqual(rows.map((r) => r.purpose).sort(), ['data', 'fingerprint']);
      for (const r of rows) assert.equal(r.kek_id, t.deps.vault.masterKeyId);
    });

    it('fingerprints are stable within a merchant and differ across merchants', async () => {
      const a1 = await t.deps.vault.fingerprints(a, card);
      const a2 = await t.deps.vault.fingerprints(a, { ...card, expYear: '2035' });
      const b1 = await t.deps.vault.fingerprints(b, card);
      assert.equal(a1.pan, a2.pan);
      assert.notEqual(a1.panExp, a2.panExp);
      assert.notEqual(a1.pan, b1.pan);
    });

    it('a fresh vault (another process) decrypts with the keys from the database', async () => {
      const ct = await t.deps.vault.encryptCard(a, card, 'row');
      const master = loadMasterKey({ configured: undefined, dataDir: t.dataDir, env: 'sandbox', warn: () => {} });
      const other = new Vault(t.deps.db.kysely, master);
      assert.deepEqual(await other.decryptCard(a, ct, 'row'), card);
    });

    it('a wrong master key cannot unwrap the data keys', async () => {
      const ct = await t.deps.vault.encryptCard(a, card, 'row');
      const wrong = new Vault(t.deps.db.kysely, { ...masterKeyFrom(Buffer.alloc(32, 9)), id: t.deps.vault.masterKeyId });
      await assert.rejects(wrong.decryptCard(a, ct, 'row'), VaultIntegrityError);
    });
  });
}
