/**
 * Key rotation figures (docs/keys.md): master-key re-wrap time for N data keys, and data
 * re-encryption throughput (records/s) of the background job, on SQLite or PostgreSQL.
 *   node bench/keys-rotation.ts [--merchants 200] [--cards 20000] [--pg postgres://…/db]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { buildDeps } from '../src/deps.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { insertCardOrFindExisting } from '../src/storage/repos/cards.ts';
import { cardAad } from '../src/services/customers.ts';
import { createKeyRotationService } from '../src/services/key-rotation.ts';

const { values } = parseArgs({ options: { merchants: { type: 'string', default: '200' }, cards: { type: 'string', default: '20000' }, pg: { type: 'string' } } });
const merchants = Number(values.merchants);
const cards = Number(values.cards);
const dataDir = mkdtempSync(join(tmpdir(), 'tessera-keys-bench-'));
const config = loadConfig({ TESSERA_DATA_DIR: dataDir, TESSERA_KEY_VERSION_TTL_S: '1', LOG_LEVEL: 'warn', ...(values.pg ? { DATABASE_URL: values.pg } : {}) });
const deps = await buildDeps({ config, logger: createLogger('warn', process.stderr) });
try {
  const ids: string[] = [];
  for (let i = 0; i < merchants; i++) ids.push((await deps.services.merchants.create({ name: `Bench ${i}` })).id);
  const now = Date.now();
  await deps.db.kysely.transaction().execute(async (trx) => {
    for (let i = 0; i < cards; i++) {
      const merchantId = ids[i % ids.length]!;
      const id = randomUUID();
      const pan = `4${String(i).padStart(14, '0')}`;
      await insertCardOrFindExisting(trx, {
        id, merchant_id: merchantId, customer_id: null, fingerprint: `fp${i}`, fingerprint_exp: `fpe${i}`, brand: 'visa', last4: pan.slice(-4),
        exp_month: '12', exp_year: '2034', card_ct: await deps.vault.encryptCard(merchantId, { pan: pan + '0', expMonth: '12', expYear: '2034', name: 'Bench' }, cardAad(id), trx),
        cvc_ct: null, cvc_expires_at: null, created_at: now, deleted_at: null,
      });
    }
  });
  // Master-key rotation: a new version (key file), then every data key re-wrapped.
  const kek = deps.vault.kek as import('../src/vault/kek.ts').LocalKeyEncryptionKeys;
  kek.addVersion();
  let t0 = performance.now();
  let rewrapped = 0;
  for (let n = await deps.vault.rewrapBatch(500); n > 0; n = await deps.vault.rewrapBatch(500)) rewrapped += n;
  const rewrapMs = performance.now() - t0;
  // Data rotation: one job runner, driven directly (no 1 s poll between slices).
  const rotation = createKeyRotationService({ db: deps.db, vault: deps.vault, log: deps.log, now: Date.now, nudge: () => {}, batchSize: config.keyRotationBatch });
  const started = await rotation.startDataRotation();
  await new Promise((r) => setTimeout(r, 1100));
  t0 = performance.now();
  let firstPassMs = 0;
  for (;;) {
    const r = await rotation.process({ id: started.id });
    const p = await rotation.progress(started.id);
    if (p!.pass > 1 && firstPassMs === 0) firstPassMs = performance.now() - t0;
    if (p!.status === 'done') break;
    if (r && r.rescheduleAt > Date.now()) await new Promise((res) => setTimeout(res, r.rescheduleAt - Date.now()));
  }
  const p = await rotation.progress(started.id);
  console.log(JSON.stringify({
    engine: deps.db.engine, merchants, dataKeys: rewrapped, rewrapMs: Math.round(rewrapMs), rewrapPerS: Math.round(rewrapped / (rewrapMs / 1000)),
    ciphertexts: started.total, rewritten: p!.rewritten, firstPassMs: Math.round(firstPassMs), reencryptPerS: Math.round(p!.rewritten / (firstPassMs / 1000)),
  }));
} finally {
  await deps.close();
  rmSync(dataDir, { recursive: true, force: true });
}
