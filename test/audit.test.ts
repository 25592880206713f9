import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { sql } from 'kysely';
import { makeTrace, runWithTrace } from '../src/observability/trace-context.ts';
import { CARDS, rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance, type MerchantCredentials } from './support/harness.ts';
import { createOrder, orderBody, permanentToken, temporaryToken } from './support/orders.ts';
import { cardPayload, cof, createCofMerchant, encryptToTessera } from './support/cof.ts';
import { createIssuer, registerCard, banking } from './support/issuer.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'tessera.js');

for (const engine of ENGINES) {
  describe(`the audit log on ${engine}`, () => {
    let t: Instance;
    let m: MerchantCredentials;
    let other: MerchantCredentials;
    const tessera = (args: string[]) =>
      spawnSync(process.execPath, [BIN, ...args], {
        env: { ...process.env, TESSERA_DATA_DIR: t.dataDir, LOG_LEVEL: 'warn', ...(t.databaseUrl ? { DATABASE_URL: t.databaseUrl } : {}) },
        encoding: 'utf8',
        cwd: ROOT,
      });
    const k = () => t.deps.db.kysely;

    before(async () => {
      t = await startInstance(engine);
      m = await createMerchant(t);
      other = await createMerchant(t, 'Other');
    });
    after(async () => {
      assert.deepEqual(await closeAndScan(t), [], 'no test PAN in the logs or the database');
    });

    it('records each use of stored card data with who, what, why and the request id, and lists it to its merchant only', async () => {
      const customer = await call(t, m.jwt, 'POST', '/api/customers', { body: { first_name: 'Ada', last_name: 'Lovelace', email: 'ada@example.com' } });
      const card = await call(t, m.jwt, 'POST', `/api/customers/${customer.body.id}/cards`, { body: rawCard() });
      assert.equal(card.status, 201, card.text);
      const tokenized = await call(t, m.jwt, 'POST', '/api/tokens', { body: { id: card.body.id } });
      assert.equal(tokenized.status, 201, tokenized.text);
      const token = await temporaryToken(t, m);
      const paid = await createOrder(t, m, orderBody({ token }));
      assert.equal(paid.status, 201, paid.text);

      const list = await call(t, m.jwt, 'GET', '/api/audit');
      assert.equal(list.status, 200, list.text);
      const ops = list.body.data.map((r: { operation: string }) => r.operation);
      assert.deepEqual(ops.slice(0, 2), ['order.pay', 'token.create']);
      const pay = list.body.data[0];
      assert.equal(pay.request_id, paid.headers['x-request-id']);
      assert.match(pay.reason, /pay an order with a temporary vault token/);
      assert.equal(list.body.data[1].subject, `card:${card.body.id}`);
      assert.equal(list.body.data[1].request_id, tokenized.headers['x-request-id']);
      assert.doesNotMatch(list.text, /4242424242424242|"123"/);

      const theirs = await call(t, other.jwt, 'GET', '/api/audit');
      assert.deepEqual(theirs.body, { data: [], next_cursor: null });
      assert.equal((await call(t, undefined, 'GET', '/api/audit')).status, 401);
    });

    it('records background and other-face uses too: network upgrade jobs, /cof/v1 tokens, issuer cards and eCom tokens', async () => {
      const token = await permanentToken(t, m);
      const order = await createOrder(t, m, orderBody({ token }));
      assert.equal(order.status, 201);
      const upgrade = await eventually(async () => {
        const r = await t.deps.db.kysely.selectFrom('audit_log').selectAll().where('tenant_id', '=', m.id).where('operation', '=', 'network_token.upgrade').executeTakeFirst();
        return r ?? undefined;
      }, 5000, 'the network upgrade to be audited');
      // A background job is recorded under the request that enqueued it.
      assert.equal(upgrade.request_id, order.headers['x-request-id']);

      const psp = await createCofMerchant(t);
      const created = await cof(t, psp, 'POST', '/cof/v1/tokens', { body: { merchantId: psp.id, encryptedData: await encryptToTessera(t, cardPayload(CARDS.visa)), source: 'ON_FILE' } });
      assert.equal(created.status, 201, created.text);
      const rows = await k().selectFrom('audit_log').selectAll().where('tenant_id', '=', psp.id).execute();
      assert.deepEqual(rows.map((r) => [r.operation, r.request_id]), [['network_token.create', created.headers['x-request-id']]]);

      const issuer = await createIssuer(t);
      const { cardId } = await registerCard(t, issuer, CARDS.mastercard);
      assert.equal((await banking(t, issuer, 'POST', `/cards/${cardId}/tokens`)).status, 201);
      const issuerOps = (await k().selectFrom('audit_log').select('operation').where('tenant_id', '=', `issuer:${issuer.issuerId}`).orderBy('seq').execute()).map((r) => r.operation);
      assert.deepEqual(issuerOps, ['issuer_card.register', 'issuer_token.create']);
    });

    it('pages a merchant\'s records newest first with next_cursor', async () => {
      const all = (await call(t, m.jwt, 'GET', '/api/audit?limit=100')).body.data;
      assert.ok(all.length >= 3);
      const first = await call(t, m.jwt, 'GET', '/api/audit?limit=2');
      assert.equal(first.body.data.length, 2);
      assert.ok(first.body.next_cursor);
      const second = await call(t, m.jwt, 'GET', `/api/audit?limit=2&cursor=${first.body.next_cursor}`);
      assert.deepEqual([...first.body.data, ...second.body.data].map((r: { id: string }) => r.id), all.slice(0, 4).map((r: { id: string }) => r.id));
      assert.equal((await call(t, m.jwt, 'GET', '/api/audit?limit=0')).status, 400);
    });

    it('verifies an intact chain (service and `tessera audit verify --json`)', async () => {
      const v = await t.deps.audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v));
      const res = tessera(['audit', 'verify', '--json']);
      assert.equal(res.status, 0, res.stderr);
      const out = JSON.parse(res.stdout);
      assert.equal(out.ok, true);
      assert.equal(out.records, v.records);
    });

    it('detects a changed record, and says which', async () => {
      const row = await k().selectFrom('audit_log').selectAll().where('seq', '=', 2).executeTakeFirstOrThrow();
      await k().updateTable('audit_log').set({ reason: 'nothing to see here' }).where('seq', '=', 2).execute();
      const res = tessera(['audit', 'verify', '--json']);
      assert.equal(res.status, 1, res.stderr);
      assert.deepEqual(pick(JSON.parse(res.stdout)), { ok: false, seq: 2, problem: 'changed' });
      const human = tessera(['audit', 'verify']);
      assert.equal(human.status, 1);
      assert.match(human.stderr, /BROKEN at record 2: record 2 was changed/);
      await k().updateTable('audit_log').set({ reason: row.reason }).where('seq', '=', 2).execute();
      assert.equal((await t.deps.audit.verify()).ok, true);
    });

    it('detects a removed record, in the middle or at the end', async () => {
      const row = await k().selectFrom('audit_log').selectAll().where('seq', '=', 3).executeTakeFirstOrThrow();
      await k().deleteFrom('audit_log').where('seq', '=', 3).execute();
      assert.deepEqual(pick(await t.deps.audit.verify()), { ok: false, seq: 3, problem: 'missing' });
      await k().insertInto('audit_log').values(row).execute();
      assert.equal((await t.deps.audit.verify()).ok, true);

      const head = await k().selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
      const last = await k().selectFrom('audit_log').selectAll().where('seq', '=', head.seq).executeTakeFirstOrThrow();
      await k().deleteFrom('audit_log').where('seq', '=', head.seq).execute();
      const v = await t.deps.audit.verify();
      assert.deepEqual(pick(v), { ok: false, seq: head.seq, problem: 'truncated' });
      const cli = tessera(['audit', 'verify', '--json']);
      assert.equal(cli.status, 1);
      await k().insertInto('audit_log').values(last).execute();
      assert.equal((await t.deps.audit.verify()).ok, true);
    });

    it('detects two records swapped, by position or by content', async () => {
      // Swap the positions (seq) of records 2 and 3.
      await k().updateTable('audit_log').set({ seq: -2 }).where('seq', '=', 2).execute();
      await k().updateTable('audit_log').set({ seq: 2 }).where('seq', '=', 3).execute();
      await k().updateTable('audit_log').set({ seq: 3 }).where('seq', '=', -2).execute();
      assert.deepEqual(pick(await t.deps.audit.verify()), { ok: false, seq: 2, problem: 'reordered' });
      await k().updateTable('audit_log').set({ seq: -2 }).where('seq', '=', 2).execute();
      await k().updateTable('audit_log').set({ seq: 2 }).where('seq', '=', 3).execute();
      await k().updateTable('audit_log').set({ seq: 3 }).where('seq', '=', -2).execute();
      assert.equal((await t.deps.audit.verify()).ok, true);

      // Swap everything but seq and the chain links (who, what, why, when) of records 1 and 2.
      const fields = ['tenant_id', 'operation', 'reason', 'subject', 'request_id', 'created_at'] as const;
      const [a, b] = await k().selectFrom('audit_log').select(fields).where('seq', 'in', [1, 2]).orderBy('seq').execute();
      await k().updateTable('audit_log').set(b!).where('seq', '=', 1).execute();
      await k().updateTable('audit_log').set(a!).where('seq', '=', 2).execute();
      assert.deepEqual(pick(await t.deps.audit.verify()), { ok: false, seq: 1, problem: 'changed' });
      await k().updateTable('audit_log').set(a!).where('seq', '=', 1).execute();
      await k().updateTable('audit_log').set(b!).where('seq', '=', 2).execute();
      assert.equal((await t.deps.audit.verify()).ok, true);
    });

    it('keeps one unbroken chain under concurrent appends (grouped), each record with its own caller\'s request id', async () => {
      const before = (await t.deps.audit.verify()).records;
      // Appends from 40 concurrent requests, some single and some several at once: they share head turns.
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          runWithTrace(makeTrace(`req-concurrent-${i}`), () =>
            i % 4 === 0
              ? t.deps.audit.recordMany([
                  { tenantId: m.id, operation: 'test.concurrent', reason: `append ${i}` },
                  { tenantId: m.id, operation: 'test.concurrent', reason: `append ${i}b` },
                ])
              : t.deps.audit.record({ tenantId: m.id, operation: 'test.concurrent', reason: `append ${i}` }),
          ),
        ),
      );
      const v = await t.deps.audit.verify();
      assert.equal(v.ok, true, JSON.stringify(v));
      assert.equal(v.records, before + 50);
      const count = await k().selectFrom('audit_log').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
      assert.equal(Number(count.n), v.records);
      const rows = await k().selectFrom('audit_log').select(['reason', 'request_id']).where('operation', '=', 'test.concurrent').execute();
      assert.equal(rows.length, 50);
      for (const r of rows) assert.equal(r.request_id, `req-concurrent-${/append (\d+)/.exec(r.reason)![1]}`, r.reason);
    });
  });
}

function pick(v: { ok: boolean; seq?: number; problem?: string }) {
  return { ok: v.ok, seq: v.seq, problem: v.problem };
}
