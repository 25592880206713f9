import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { CompactEncrypt, exportJWK, generateKeyPair } from 'jose';
import { JwePool, type PoolKey } from '../src/vault/jwe-pool.ts';

// The pool's threads decrypt ECDH-ES + A256GCM with node:crypto; jose (the issuers' side, and the
// ring's own path) is the reference: whatever jose encrypts decrypts, anything altered does not.
describe('JWE pool (ECDH-ES + A256GCM on worker threads)', async () => {
  const { publicKey, privateKey } = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  const other = await generateKeyPair('ECDH-ES', { crv: 'P-256', extractable: true });
  const key: PoolKey = { kid: 'k1', keyObject: createPrivateKey({ key: (await exportJWK(privateKey)) as JsonWebKey, format: 'jwk' }) };
  const locals: string[] = [];
  const pool = new JwePool({ size: 2, local: async (_k, jwe) => (locals.push(jwe), null) });
  after(() => pool.close());

  const encrypt = (text: string, header: Record<string, unknown> = {}, to = publicKey) =>
    new CompactEncrypt(new TextEncoder().encode(text)).setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: 'k1', ...header }).encrypt(to);
  const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

  it('decrypts what jose encrypts, with and without apu/apv, many at once', async () => {
    const jwes = await Promise.all(Array.from({ length: 150 }, (_, i) => encrypt(`{"n":${i}}`, i % 3 === 0 ? { apu: 'QWxpY2U', apv: 'Qm9i' } : {})));
    const out = await Promise.all(jwes.map((j) => pool.decrypt(key, j)));
    assert.deepEqual(out.map(text), jwes.map((_, i) => `{"n":${i}}`));
  });

  it('refuses a JWE to another key, an altered tag, ciphertext, IV or header, and an encrypted-key part', async () => {
    const good = await encrypt('{"pan":"4111111111111111"}');
    const [h, ek, iv, ct, tag] = good.split('.') as [string, string, string, string, string];
    const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
    const headerWith = (patch: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(h, 'base64url').toString()), ...patch })).toString('base64url');
    const epk = JSON.parse(Buffer.from(h, 'base64url').toString()).epk as { x: string; y: string };
    const offCurve = { ...epk, y: flip(epk.y) };
    const bad = [
      await encrypt('x', {}, other.publicKey),
      [h, ek, iv, ct, flip(tag)].join('.'),
      [h, ek, iv, flip(ct), tag].join('.'),
      [h, ek, iv.slice(0, 8), ct, tag].join('.'),
      [h, 'AAAA', iv, ct, tag].join('.'),
      [headerWith({ apu: 'QQ' }), ek, iv, ct, tag].join('.'),
      [headerWith({ epk: { kty: 'EC', crv: 'P-256', ...offCurve } }), ek, iv, ct, tag].join('.'),
      [headerWith({ enc: 'A128GCM' }), ek, iv, ct, tag].join('.'),
      'not.a.jwe',
    ];
    assert.deepEqual(await Promise.all(bad.map((j) => pool.decrypt(key, j))), bad.map(() => null));
    assert.equal(text(await pool.decrypt(key, good)), '{"pan":"4111111111111111"}');
    assert.equal(text(await pool.decrypt({ ...key, kid: 'unknown-to-threads' }, good)), '{"pan":"4111111111111111"}', 'a key is sent to a thread before its first JWE');
  });

  it('a stopped pool starts again; requests of a thread that dies go to the calling thread', async () => {
    await pool.close();
    assert.equal(text(await pool.decrypt(key, await encrypt('again'))), 'again');
    const jwes = await Promise.all(Array.from({ length: 20 }, () => encrypt('late')));
    const pending = jwes.map((j) => pool.decrypt(key, j));
    await new Promise((r) => setImmediate(r)); // posted to the threads
    await pool.close(); // the threads go away with the requests in flight
    await Promise.all(pending);
    assert.equal(locals.length, 20);
  });
});
