import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import pg from 'pg';
import { rawCard } from './support/cards.ts';
import { call, closeAndScan, createMerchant, ENGINES, eventually, startInstance, type Instance } from './support/harness.ts';

// PostgreSQL only: SQLite has no server to lose. The soak (bench/soak.ts) restarts a whole cluster;
// here the server ends our backends, which is what a restart looks like to the process.
const engines = ENGINES.filter((e) => e === 'postgres');

for (const engine of engines) {
  describe(`losing PostgreSQL connections on ${engine}`, () => {
    let t: Instance;
    let admin: pg.Client;
    before(async () => {
      t = await startInstance(engine);
      admin = new pg.Client({ connectionString: t.databaseUrl });
      await admin.connect();
    });
    after(async () => {
      await admin.end();
      assert.deepEqual(await closeAndScan(t), [], 'no PAN in logs or database');
    });

    it('a connection the server terminates while it is checked out does not crash the process', async () => {
      let crashed: unknown;
      const onUncaught = (err: unknown) => {
        crashed = err;
      };
      process.on('uncaughtException', onUncaught);
      try {
        await t.deps.db.kysely.connection().execute(async (conn) => {
          const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(conn);
          await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
          await new Promise((r) => setTimeout(r, 300));
        });
      } finally {
        process.off('uncaughtException', onUncaught);
      }
      assert.equal(crashed, undefined, `the lost connection escaped as ${String(crashed)}`);
    });

    it('after every backend of the process is terminated, the API serves again at once', async () => {
      const m = await createMerchant(t);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      const res = await eventually(async () => {
        const r = await call(t, m.jwt, 'POST', '/api/tokens', { body: rawCard() });
        return r.status === 201 ? r : undefined;
      }, 5000, 'a token after the connections were lost');
      assert.equal(res.status, 201);
    });
  });
}

describe('an unreachable database answers 503, not 500', () => {
  it("pg's own errors for a refused connection and a terminated one map to 503 service_unavailable", async () => {
    const { toTesseraError } = await import('../src/http/errors.ts');
    const { freePort } = await import('../bench/processes.ts');
    const refused = await new pg.Client({ host: '127.0.0.1', port: await freePort(), user: 'postgres' }).connect().then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused, 'connecting to a closed port fails');
    const e = toTesseraError(refused);
    assert.equal(e.status, 503);
    assert.equal(e.code, 'service_unavailable');
    assert.equal(toTesseraError(new Error('Connection terminated unexpectedly')).status, 503);
    assert.equal(toTesseraError(new Error('something else')).status, 500, 'other faults stay 500');
  });
});
