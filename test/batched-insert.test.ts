import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BatchedInserter } from '../src/storage/batched-insert.ts';
import { insertTokens, type TokenRow } from '../src/storage/repos/tokens.ts';
import { closeAndScan, createMerchant, ENGINES, startInstance, type Instance } from './support/harness.ts';

function row(merchantId: string, hash: string): TokenRow {
  return {
    token_hash: hash, merchant_id: merchantId, type: 'temporary', card_id: null, card_ct: 'v1.x', cvc_ct: null, brand: 'visa', last4: '4242',
    exp_month: '12', exp_year: '2034', fingerprint: 'f', installments: null, fixed_installments: null, source: null, expires_at: Date.now() + 60_000,
    validation_status: null, validation_reference: null, validation_amount: null, validation_currency: null, validation_error: null,
    validation_updated_at: null, used_at: null, created_at: Date.now(), deleted_at: null,
  };
}

for (const engine of ENGINES) {
  describe(`group commit of token rows on ${engine}`, () => {
    let t: Instance;
    let merchantId: string;
    before(async () => {
      t = await startInstance(engine);
      merchantId = (await createMerchant(t)).id;
    });
    after(async () => assert.deepEqual(await closeAndScan(t), []));

    it('stores every row of a burst, each caller settling after its own row is committed', async () => {
      let statements = 0;
      const writer = new BatchedInserter<TokenRow>(t.deps.db.kysely, async (db, rows) => {
        statements++;
        await insertTokens(db, rows);
      });
      const hashes = Array.from({ length: 300 }, (_, i) => `burst-${i}`);
      await Promise.all(hashes.map((h) => writer.insert(row(merchantId, h))));
      const stored = await t.deps.db.kysely.selectFrom('tokens').select('token_hash').where('token_hash', 'like', 'burst-%').execute();
      assert.equal(stored.length, 300);
      assert.ok(statements < 300 && statements >= 2, `${statements} statements for 300 rows (at most 200 a statement)`);
    });

    it('a bad row fails only its own caller; the rest of its batch is stored', async () => {
      const writer = new BatchedInserter(t.deps.db.kysely, insertTokens);
      await writer.insert(row(merchantId, 'dup-0'));
      const results = await Promise.allSettled([writer.insert(row(merchantId, 'dup-1')), writer.insert(row(merchantId, 'dup-0')), writer.insert(row(merchantId, 'dup-2'))]);
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
      const stored = await t.deps.db.kysely.selectFrom('tokens').select('token_hash').where('token_hash', 'like', 'dup-%').execute();
      assert.deepEqual(stored.map((r) => r.token_hash).sort(), ['dup-0', 'dup-1', 'dup-2']);
    });
  });
}
