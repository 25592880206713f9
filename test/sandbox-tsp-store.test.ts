import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createSecretKey, randomUUID } from 'node:crypto';
import { Migrator } from 'kysely';
import { luhnValid } from '../src/domain/card.ts';
import { lookupKey, TokenNumbering } from '../src/sandbox/token-numbers.ts';
import { SandboxTsp } from '../src/sandbox/tsp.ts';
import { deriveKey, masterKeyFrom } from '../src/vault/master-key.ts';
import { seal } from '../src/vault/cipher.ts';
import { migrateToLatest, StaticMigrations } from '../src/storage/database.ts';
import { CARDS, findPans, TEST_PANS } from './support/cards.ts';
import { ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera, merchantKeyPair, type CofMerchant } from './support/cof.ts';

describe('sandbox token numbers (a keyed permutation of serials)', () => {
  const a = new TokenNumbering(createSecretKey(Buffer.alloc(32, 1)));
  const b = new TokenNumbering(createSecretKey(Buffer.alloc(32, 2)));

  it('is a permutation of every n-digit number, and decode undoes encode', () => {
    for (let digits = 1; digits <= 5; digits++) {
      const seen = new Set<string>();
      for (let serial = 0; serial < 10 ** digits; serial++) {
        const n = a.encode(serial, digits);
        assert.equal(n.length, digits);
        assert.equal(a.decode(n), serial);
        seen.add(n);
      }
      assert.equal(seen.size, 10 ** digits, `every ${digits}-digit number once`);
    }
    for (const digits of [8, 9]) {
      for (const serial of [0, 1, 2, 10 ** digits - 1, 123_456, 10 ** (digits - 1) + 7]) assert.equal(a.decode(a.encode(serial, digits)), serial);
    }
  });

  it('does not number consecutively, and another key numbers otherwise', () => {
    const first = Array.from({ length: 100 }, (_, i) => Number(a.encode(i, 9)));
    const steps = first.slice(1).filter((n, i) => Math.abs(n - first[i]!) === 1);
    assert.ok(steps.length < 3, 'consecutive serials do not give neighbouring numbers');
    assert.ok(new Set(first.map((n) => String(n).slice(0, 3))).size > 50, 'spread over the range');
    const other = Array.from({ length: 100 }, (_, i) => Number(b.encode(i, 9)));
    assert.ok(other.filter((n, i) => n === first[i]).length < 2);
  });
});

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
      assert.match(old.get(visa.tokenId)!.requestor_key!, /^[0-9a-f]{32}$/, 'an Amex token had its identity alone');
      // An older Tessera kept the whole HMAC (64 hex digits): put back the one it had written.
      const master = masterKeyFrom(await t.deps.vault.rootSecret(Date.now()));
      const parts = ['AMEX', m.id, CARDS.amex, '12', '2034', 'acct-3', 'a@example.com'];
      const full = createHmac('sha256', deriveKey(master, 'sandbox-tsp')).update(`requestor|${JSON.stringify(parts)}`).digest('hex');
      assert.equal(full.slice(0, 32), old.get(visa.tokenId)!.requestor_key, 'the same identity');
      await t.deps.db.kysely.updateTable('sandbox_tsp_tokens').set({ requestor_key: full }).where('id', '=', visa.tokenId).execute();
      for (const r of before.filter((b) => b.status === 'DELETED')) assert.equal(old.get(r.id)!.requestor_key, null, 'a deleted token had none');

      assert.ok((await migrateToLatest(t.deps.db)).includes('0013-sandbox-par-keys'));
      assert.deepEqual(await keys(), before, 'the upgrade gives every token the key a new one gets');
      assert.equal((await create(cardPayload(CARDS.amex, { accountId: 'acct-3', email: 'a@example.com' }))).tokenId, visa.tokenId, 'still reused');
      assert.equal(await issuerEvent(mc.par, 'CARD_LOST'), 1);
      await statusBecomes(mc.tokenId, 'SUSPENDED');
    });

    it('numbers tokens from serials: their lookup keys are in serial order, and payments find them by token PAN', async () => {
      const keyPair = await merchantKeyPair();
      assert.equal((await cof(t, m, 'PATCH', `/cof/v1/merchants/${m.id}`, { body: { jwks: keyPair.jwks } })).status, 200);
      const credentials = async (tokenId: string) => {
        const res = await cof(t, m, 'POST', '/cof/v1/transactions', { body: { tokenId, transactionType: 'SINGLE' } });
        assert.equal(res.status, 201, res.text);
        const data = (await keyPair.decrypt(res.body.encryptedData)) as Record<string, string>;
        TEST_PANS.push(data.tokenPan!);
        return data;
      };
      const authorize = (data: Record<string, string>) =>
        cof(t, m, 'POST', '/sandbox/v1/authorizations', {
          body: { merchantId: m.id, tokenPan: data.tokenPan, tokenExpiryDate: data.tokenExpiryDate, cryptogram: data.cryptogram, amount: 1999, currency: 'MXN' },
        });
      const one = await create(cardPayload(CARDS.discover));
      const two = await create(cardPayload(CARDS.discover));
      const lookup = async (id: string) =>
        (await t.deps.db.kysely.selectFrom('sandbox_tsp_tokens').select('token_pan_fingerprint').where('id', '=', id).executeTakeFirstOrThrow()).token_pan_fingerprint;
      const [k1, k2] = [await lookup(one.tokenId), await lookup(two.tokenId)];
      assert.match(k1, /^#601199\d{9}$/);
      assert.ok(k2 > k1, 'the next token, the next key');
      const d1 = await credentials(one.tokenId);
      const d2 = await credentials(two.tokenId);
      assert.ok(luhnValid(d1.tokenPan!) && d1.tokenPan!.startsWith('601199') && d1.tokenPan!.endsWith(one.tokenLastDigits));
      assert.notEqual(d1.tokenPan, d2.tokenPan);
      assert.equal((await authorize(d1)).body.status, 'approved');
      // One token's cryptogram with another's number: the number's own token says why not.
      assert.equal((await authorize({ ...d2, cryptogram: (await credentials(one.tokenId)).cryptogram! })).body.reason, 'invalid_cryptogram');
      assert.equal((await authorize({ ...d2, tokenPan: d2.tokenPan!.slice(0, -2) + String((Number(d2.tokenPan!.slice(-2, -1)) + 1) % 10) + d2.tokenPan!.slice(-1) })).body.reason, 'invalid_token');

      assert.equal((await t.deps.db.kysely.selectFrom('sandbox_tsp_tokens').select('token_pan_ct').where('id', '=', one.tokenId).executeTakeFirstOrThrow()).token_pan_ct, '', 'the number is not stored: the serial gives it');

      // A token numbered before migration 0014 (its number sealed, looked up by its HMAC) still pays.
      const master = masterKeyFrom(await t.deps.vault.rootSecret(Date.now()));
      const key = deriveKey(master, 'sandbox-tsp');
      const mac = createHmac('sha256', key).update(`token-pan|${d2.tokenPan}`).digest('hex');
      const sealed = seal(createSecretKey(key), Buffer.from(d2.tokenPan!), `sandbox-token-pan:${two.tokenId}`).toString('base64url');
      await t.deps.db.kysely.updateTable('sandbox_tsp_tokens').set({ token_pan_fingerprint: mac, token_pan_ct: sealed }).where('id', '=', two.tokenId).execute();
      const old = await credentials(two.tokenId);
      assert.equal(old.tokenPan, d2.tokenPan, 'its sealed number');
      assert.equal((await authorize(old)).body.status, 'approved');
      assert.equal((await authorize({ ...(await credentials(two.tokenId)), cryptogram: (await credentials(one.tokenId)).cryptogram! })).body.reason, 'invalid_cryptogram');
    });

    it('takes one new block of serials for all the requests that find the block used up at once', async () => {
      const counter = async () =>
        Number((await t.deps.db.kysely.selectFrom('sandbox_counters').select('next').where('name', '=', 'token_serial:MASTERCARD').executeTakeFirst())?.next ?? 0);
      const before = await counter();
      const card = { pan: CARDS.mastercardRef, expMonth: '12', expYear: '2034', name: '' };
      // 1,500 at once: more than a block (1,000), so at least one block runs out while most of them wait.
      const results = await Promise.all(Array.from({ length: 1500 }, () => t.deps.tsp.requestToken({ merchantId: m.id, network: 'MASTERCARD', card })));
      assert.ok(results.every((r) => r.ok));
      const taken = (await counter()) - before;
      assert.ok(taken <= 2000, `two blocks at most for 1,500 tokens, not one per waiting request (took ${taken} serials)`);
      const keys = await t.deps.db.kysely.selectFrom('sandbox_tsp_tokens').select('token_pan_fingerprint').where('network', '=', 'MASTERCARD').execute();
      assert.equal(new Set(keys.map((r) => r.token_pan_fingerprint)).size, keys.length, 'every token its own number');
    });

    it('moves a counter that went back (a restored backup) past the serials in use, and goes on issuing tokens', async () => {
      const k = t.deps.db.kysely;
      const template = await k.selectFrom('sandbox_tsp_tokens').selectAll().where('network', '=', 'MASTERCARD').executeTakeFirstOrThrow();
      // The first serial of each of the next seven blocks is in use: retrying block after block never gets past them.
      for (let serial = 0; serial <= 6000; serial += 1000) {
        await k
          .insertInto('sandbox_tsp_tokens')
          .values({ ...template, id: randomUUID(), requestor_key: `${template.par}.${randomUUID()}`, token_pan_fingerprint: lookupKey('522093', serial, 9), request_id: null })
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      const highest = Number(
        (await k.selectFrom('sandbox_tsp_tokens').select((eb) => eb.fn.max('token_pan_fingerprint').as('key')).where('token_pan_fingerprint', 'like', '#522093%').executeTakeFirstOrThrow()).key!.slice(7),
      );
      await k.updateTable('sandbox_counters').set({ next: 0 }).where('name', '=', 'token_serial:MASTERCARD').execute();
      // A process started after the restore: no block of its own yet.
      const master = masterKeyFrom(await t.deps.vault.rootSecret(Date.now()));
      const restarted = new SandboxTsp(t.deps.db, { key: deriveKey(master, 'sandbox-tsp'), parKey: deriveKey(master, 'par'), now: Date.now, nudge: () => {} });
      const card = { pan: CARDS.mastercardRef, expMonth: '12', expYear: '2034', name: '' };
      const made = await restarted.requestToken({ merchantId: m.id, network: 'MASTERCARD', card });
      assert.ok(made.ok);
      const key = (await k.selectFrom('sandbox_tsp_tokens').select('token_pan_fingerprint').where('id', '=', made.token.tokenRef).executeTakeFirstOrThrow()).token_pan_fingerprint;
      assert.ok(Number(key.slice(7)) > highest, 'numbered past every serial in use');
      const next = (await k.selectFrom('sandbox_counters').select('next').where('name', '=', 'token_serial:MASTERCARD').executeTakeFirstOrThrow()).next;
      assert.ok(Number(next) <= highest + 1 + 1000, 'one block past them, not a block per attempt');
    });
  });
}
