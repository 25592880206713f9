import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Migrator } from 'kysely';
import { migrateToLatest, StaticMigrations } from '../src/storage/database.ts';
import { CARDS, findPans } from './support/cards.ts';
import { ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, type CofMerchant } from './support/cof.ts';

/**
 * The sandbox TSP's token store keys every token by `<par>.<identity>` (migration 0013): one unique
 * index finds a requestor's token for a card (Visa, Amex) and every token of a card (issuer events),
 * and on SQLite the PAR index is gone. Tokens issued before that migration keep both behaviours.
 */
for (const engine of ENGINES) {
  describe(`sandbox TSP token store (requestor keys by PAR) on ${engine}`, () => {
    let t: Instance;
    let m: CofMerchant;

    const create = async (payload: unknown) => {
      const res = await cof(t, m, 'POST', '/cof/v1/tokens', { body: { merchantId: m.id, encryptedData: await encryptToTessera(t, payload), source: 'ON_FILE' } });
      assert.equal(res.status, 201, res.text);
      return res.body;
    };
    const issuerEvent = async (par: string, event: string) => {
      const res = await cof(t, m, 'POST', '/sandbox/v1/issuer-events', { body: { par, event } });
      assert.equal(res.status, 200, res.text);
      return res.body.tokensAffected as number;
    };
    /** Tessera hears of an issuer event through a job: waits for the token to show `expected`. */
    const statusBecomes = (tokenId: string, expected: string) =>
      eventually(async () => ((await cof(t, m, 'GET', `/cof/v1/tokens/${tokenId}`)).body.tokenStatus === expected ? true : undefined), 5000, `${tokenId} ${expected}`);
    const migrator = () => new Migrator({ db: t.deps.db.kysely, provider: new StaticMigrations(), allowUnorderedMigrations: true });
    const keys = async () =>
      (await t.deps.db.kysely.selectFrom('sandbox_tsp_tokens').select(['id', 'par', 'requestor_key', 'status']).orderBy('created_at').execute());

    before(async () => {
      t = await startInstance(engine);
      m = await createCofMerchant(t);
    });
    after(async () => {
      const leaked = findPans(t.logs.join('\n') + (await t.storedText()));
      await t.close();
      assert.deepEqual(leaked, [], 'no test PAN in the logs or the database');
    });

    it('keys every token by its PAR: Visa by identity, Mastercard and deleted tokens by their id', async () => {
      const visa = await create(cardPayload(CARDS.visa, { accountId: 'acct-1' }));
      const mc = await create(cardPayload(CARDS.mastercard));
      const gone = await create(cardPayload(CARDS.visa, { accountId: 'acct-2' }));
      assert.equal((await cof(t, m, 'DELETE', `/cof/v1/tokens/${gone.tokenId}`)).status, 200);
      const rows = new Map((await keys()).map((r) => [r.id, r]));
      const visaKey = rows.get(visa.tokenId)!.requestor_key!;
      assert.ok(visaKey.startsWith(`${visa.par}.`) && visaKey.length > visa.par.length + 32, visaKey);
      assert.equal(rows.get(mc.tokenId)!.requestor_key, `${mc.par}.${mc.tokenId}`);
      assert.equal(rows.get(gone.tokenId)!.requestor_key, `${gone.par}.${gone.tokenId}`, 'a deleted token frees its identity');
      // Freed: the same identity gets a new token; the live one is still reused.
      const again = await create(cardPayload(CARDS.visa, { accountId: 'acct-2' }));
      assert.notEqual(again.tokenId, gone.tokenId);
      assert.equal((await create(cardPayload(CARDS.visa, { accountId: 'acct-1' }))).tokenId, visa.tokenId);
      // An issuer event reaches every live token of the card and no other card's.
      assert.equal(await issuerEvent(visa.par, 'CARD_LOST'), 2);
      await statusBecomes(visa.tokenId, 'SUSPENDED');
      await statusBecomes(again.tokenId, 'SUSPENDED');
      assert.equal((await keys()).find((r) => r.id === mc.tokenId)!.status, 'ACTIVE', 'another card is untouched');
      assert.equal(await issuerEvent(mc.par, 'CARD_LOST'), 1);
      assert.equal(await issuerEvent(visa.par, 'CARD_FOUND'), 2);
      assert.equal(await issuerEvent(mc.par, 'CARD_FOUND'), 1);
    });

    it('upgrades tokens issued before migration 0013: identities and issuer events still hold, and it reverts', async () => {
      const visa = await create(cardPayload(CARDS.amex, { accountId: 'acct-3', email: 'a@example.com' }));
      const mc = await create(cardPayload(CARDS.mastercardRef));
      const before = await keys();
      // Back to the store as it was before the migration (what an older Tessera left behind).
      const down = await migrator().migrateTo('0012-ops');
      assert.equal(down.error, undefined);
      const old = new Map((await keys()).map((r) => [r.id, r]));
      assert.equal(old.get(mc.tokenId)!.requestor_key, null, 'a Mastercard token had no key');
      assert.match(old.get(visa.tokenId)!.requestor_key!, /^[0-9a-f]{64}$/, 'an Amex token had its identity alone');
      for (const r of before.filter((b) => b.status === 'DELETED')) assert.equal(old.get(r.id)!.requestor_key, null, 'a deleted token had none');

      assert.deepEqual(await migrateToLatest(t.deps.db), ['0013-sandbox-par-keys']);
      assert.deepEqual(await keys(), before, 'the upgrade gives every token the key a new one gets');
      assert.equal((await create(cardPayload(CARDS.amex, { accountId: 'acct-3', email: 'a@example.com' }))).tokenId, visa.tokenId, 'still reused');
      assert.equal(await issuerEvent(mc.par, 'CARD_LOST'), 1);
      await statusBecomes(mc.tokenId, 'SUSPENDED');
    });
  });
}
