import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compiledOnce } from '../src/storage/repos/compiled.ts';
import type { Executor } from '../src/storage/repos/executor.ts';
import { insertNetworkTokens, type NetworkTokenRow } from '../src/storage/repos/network-tokens.ts';
import { closeAndScan, createMerchant, ENGINES, startInstance, type Instance } from './support/harness.ts';

// Sets a counter (inserted, or overwritten): each statement's effect depends on the ones before it.
const setCounter = compiledOnce((db: Executor, name: string, next: number) =>
  db
    .insertInto('sandbox_counters')
    .values({ name, next })
    .onConflict((oc) => oc.column('name').doUpdateSet({ next })),
);

function tokenRow(merchantId: string, id: string): NetworkTokenRow {
  const now = Date.now();
  return {
    id, merchant_id: merchantId, network: 'VISA', status: 'ACTIVE', source: 'ON_FILE', card_ct: null, card_bin: '400000', card_last4: '0002',
    card_expiry: '1234', token_last4: '1111', token_expiry: '1229', par: 'PAR', card_art_ids: '[]', issuer: '{}', created_at: now, updated_at: now,
    card_fingerprint: `fp-${id}`,
  };
}

for (const engine of ENGINES) {
  describe(`a compiled query run for each of several argument lists on ${engine}`, () => {
    let t: Instance;
    before(async () => {
      t = await startInstance(engine);
    });
    after(async () => assert.deepEqual(await closeAndScan(t), []));

    const counters = async (prefix: string) =>
      Object.fromEntries(
        (await t.deps.db.kysely.selectFrom('sandbox_counters').select(['name', 'next']).where('name', 'like', `${prefix}%`).execute()).map((r) => [r.name, Number(r.next)]),
      );

    it('runs them in order in the transaction, one result per argument list', async () => {
      const results = await t.deps.db.kysely.transaction().execute((trx) =>
        setCounter.each(engine, trx, [
          ['each-a', 1],
          ['each-b', 2],
          ['each-a', 3],
        ]),
      );
      assert.equal(results.length, 3);
      for (const r of results) assert.equal(Number(r.numAffectedRows), 1);
      assert.deepEqual(await counters('each-'), { 'each-a': 3, 'each-b': 2 });
      assert.deepEqual(await setCounter.each(engine, t.deps.db.kysely, []), []);
    });

    it('is undone with its transaction, and a failing statement fails the call', async () => {
      await assert.rejects(
        t.deps.db.kysely.transaction().execute(async (trx) => {
          await setCounter.each(engine, trx, [['undone-a', 1]]);
          throw new Error('the caller gives up');
        }),
        /the caller gives up/,
      );
      await assert.rejects(
        t.deps.db.kysely.transaction().execute((trx) =>
          setCounter.each(engine, trx, [
            ['undone-b', 1],
            ['undone-c', null as unknown as number],
            ['undone-d', 1],
          ]),
        ),
      );
      assert.deepEqual(await counters('undone-'), {});
    });

    it('network tokens: reports the ids it inserted, leaving a token already stored as it was', async () => {
      const merchant = await createMerchant(t);
      const existing = { ...tokenRow(merchant.id, 'nt-each-1'), status: 'SUSPENDED' };
      await t.deps.db.kysely.transaction().execute((trx) => insertNetworkTokens(engine, trx, [existing]));
      const inserted = await t.deps.db.kysely.transaction().execute((trx) =>
        insertNetworkTokens(engine, trx, [tokenRow(merchant.id, 'nt-each-0'), tokenRow(merchant.id, 'nt-each-1'), tokenRow(merchant.id, 'nt-each-2')]),
      );
      assert.deepEqual([...inserted].sort(), ['nt-each-0', 'nt-each-2']);
      const rows = await t.deps.db.kysely.selectFrom('network_tokens').select(['id', 'status']).where('id', 'like', 'nt-each-%').orderBy('id').execute();
      assert.deepEqual(rows.map((r) => ({ ...r })), [
        { id: 'nt-each-0', status: 'ACTIVE' },
        { id: 'nt-each-1', status: 'SUSPENDED' },
        { id: 'nt-each-2', status: 'ACTIVE' },
      ]);
    });
  });
}
