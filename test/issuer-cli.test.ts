import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { createPgDatabase, ENGINES } from './support/harness.ts';
import { encryptionKeyPair, signingKeyPair } from './support/issuer.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'tessera.js');

for (const engine of ENGINES) {
  describe(`tessera issuers on ${engine}`, () => {
    let dir: string;
    let env: Record<string, string>;
    let drop: (() => Promise<void>) | undefined;
    const tessera = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', cwd: ROOT });

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'tessera-issuers-'));
      env = { TESSERA_DATA_DIR: dir, LOG_LEVEL: 'warn' };
      if (engine === 'postgres') {
        const pg = await createPgDatabase();
        env.DATABASE_URL = pg.url;
        drop = pg.drop;
      }
    });
    after(async () => {
      await drop?.();
      rmSync(dir, { recursive: true, force: true });
    });

    it('creates an issuer from a JWKS file (signing + encryption keys) and prints one JSON document', async () => {
      const sig = await signingKeyPair('bank-sig-1');
      const enc = await encryptionKeyPair('bank-enc-1');
      writeFileSync(join(dir, 'issuer.jwks.json'), JSON.stringify({ keys: [sig.jwk, enc.jwk] }));
      const res = tessera(['issuers', 'create', '--name', 'Banco Uno', '--jwk-file', join(dir, 'issuer.jwks.json'), '--notify-url', 'https://bank.example/d1', '--json']);
      assert.equal(res.status, 0, res.stderr);
      const out = JSON.parse(res.stdout);
      assert.match(out.issuerId, /^[A-Za-z0-9]{10}$/);
      assert.match(out.webhookSecret, /^whsec_/);
      assert.deepEqual(out.keys, [{ kid: 'bank-sig-1', use: 'sig' }, { kid: 'bank-enc-1', use: 'enc' }]);

      const next = await signingKeyPair('bank-sig-2');
      writeFileSync(join(dir, 'next.jwk.json'), JSON.stringify(next.jwk));
      const added = tessera(['issuers', 'keys', 'add', '--issuer', out.issuerId, '--jwk-file', join(dir, 'next.jwk.json'), '--json']);
      assert.equal(added.status, 0, added.stderr);
      assert.equal(JSON.parse(added.stdout).kid, 'bank-sig-2');
      assert.equal(tessera(['issuers', 'keys', 'retire', '--issuer', out.issuerId, '--kid', 'bank-sig-1', '--json']).status, 0);
    });

    it('refuses a private key, another curve, or no key, without printing key material', async () => {
      const { privateKey } = await generateKeyPair('ES256', { extractable: true });
      const priv = { ...(await exportJWK(privateKey)), kid: 'oops' };
      writeFileSync(join(dir, 'private.json'), JSON.stringify(priv));
      const res = tessera(['issuers', 'create', '--name', 'Bad', '--jwk-file', join(dir, 'private.json')]);
      assert.equal(res.status, 1);
      assert.match(res.stderr, /private key part/);
      assert.ok(!res.stderr.includes(String(priv.d)) && !res.stdout.includes(String(priv.d)));
      const { publicKey } = await generateKeyPair('ES384', { extractable: true });
      writeFileSync(join(dir, 'p384.json'), JSON.stringify({ ...(await exportJWK(publicKey)), kid: 'p384' }));
      assert.match(tessera(['issuers', 'create', '--name', 'Bad', '--jwk-file', join(dir, 'p384.json')]).stderr, /P-256/);
      assert.equal(tessera(['issuers', 'create', '--name', 'Bad']).status, 2);
    });
  });
}
