import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import { openSqliteFile as open } from './support/sqlite-file.ts';

describe('SQLite group commit (embedded default)', () => {
  it('acknowledges a write only once it is committed: another connection sees every row the moment its insert resolves', async () => {
    const s = await open();
    try {
      const seen: boolean[] = [];
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          if (i % 2 === 0) await s.db.insertInto('t').values({ id: i, v: `row ${i}` }).execute();
          else await s.db.transaction().execute((trx) => trx.insertInto('t').values({ id: i, v: `row ${i}` }).execute());
          seen[i] = s.committed(i)?.v === `row ${i}`;
        }),
      );
      assert.equal(seen.filter(Boolean).length, 300);
    } finally {
      await s.close();
    }
  });

  it('rolls back one transaction of a group alone, and a failed statement alone', async () => {
    const s = await open();
    try {
      await s.db.insertInto('t').values({ id: 0, v: 'taken' }).execute();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 200 }, async (_, i) => {
          const id = i + 1;
          if (i % 3 === 0) {
            // A transaction that writes twice, then fails: neither write survives.
            await s.db.transaction().execute(async (trx) => {
              await trx.insertInto('t').values({ id, v: 'doomed' }).execute();
              await trx.insertInto('t').values({ id: id + 10_000, v: 'doomed too' }).execute();
              throw new Error('changed my mind');
            });
          } else if (i % 3 === 1) {
            // A statement that violates the primary key: it fails alone.
            await s.db.insertInto('t').values({ id: 0, v: 'duplicate' }).execute();
          } else {
            await s.db.transaction().execute((trx) => trx.insertInto('t').values({ id, v: 'kept' }).execute());
          }
        }),
      );
      const rows = (await s.db.selectFrom('t').selectAll().orderBy('id').execute()).map((r) => ({ ...r }));
      const expected = [{ id: 0, v: 'taken' }, ...Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 === 2).map((i) => ({ id: i + 1, v: 'kept' }))];
      assert.deepEqual(rows, expected);
      assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 134);
      for (const e of expected) assert.equal(s.committed(e.id)?.v, e.v, `row ${e.id} is committed`);
    } finally {
      await s.close();
    }
  });

  it('runs bulk transactions and statements among the group sessions: each acknowledged once committed, a failed one undoing its own rows alone', async () => {
    const s = await open();
    try {
      await s.db.insertInto('t').values({ id: 0, v: 'taken' }).execute();
      // Alone: committed by the time it resolves, as any session's write.
      await s.bulk.transaction().execute((trx) => trx.insertInto('t').values({ id: 1, v: 'alone' }).execute());
      assert.equal(s.committed(1)?.v, 'alone');
      const seen = new Map<number, boolean>();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 240 }, async (_, i) => {
          const id = 100 * (i + 1);
          const rows = (v: string) => Array.from({ length: 20 }, (_, j) => ({ id: id + j, v }));
          switch (i % 6) {
            case 0: // A bulk transaction of many rows: committed with its group.
              await s.bulk.transaction().execute(async (trx) => {
                await trx.insertInto('t').values(rows('bulk')).execute();
                await trx.updateTable('t').set({ v: 'bulk kept' }).where('id', '>=', id).where('id', '<', id + 20).execute();
              });
              break;
            case 1: // A bulk transaction that fails after writing: none of its rows survive, no one else's go.
              await s.bulk.transaction().execute(async (trx) => {
                await trx.insertInto('t').values(rows('doomed')).execute();
                throw new Error('changed my mind');
              });
              break;
            case 2: // A bulk transaction failing on a statement (a taken key) after one that worked.
              await s.bulk.transaction().execute(async (trx) => {
                await trx.insertInto('t').values(rows('doomed')).execute();
                await trx.insertInto('t').values({ id: 0, v: 'duplicate' }).execute();
              });
              break;
            case 3: // A multi-row statement of the bulk handle, outside a transaction: commits by itself.
              await s.bulk.insertInto('t').values(rows('bulk statement')).execute();
              break;
            case 4: // The same, failing part-way (its last row's key is taken): nothing of it stays.
              await s.bulk.insertInto('t').values([...rows('doomed'), { id: 0, v: 'duplicate' }]).execute();
              break;
            default: // An ordinary session in the groups between them.
              await s.db.transaction().execute((trx) => trx.insertInto('t').values(rows('group')).execute());
          }
          seen.set(i, s.committed(id)?.v !== undefined);
        }),
      );
      const kept = (i: number) => i % 6 === 0 || i % 6 === 3 || i % 6 === 5;
      assert.deepEqual(
        outcomes.map((o, i) => [i, o.status]),
        outcomes.map((_, i) => [i, kept(i) ? 'fulfilled' : 'rejected']),
      );
      const expected = [
        { id: 0, v: 'taken' },
        { id: 1, v: 'alone' },
      ];
      for (let i = 0; i < 240; i++) {
        if (!kept(i)) continue;
        const v = ['bulk kept', '', '', 'bulk statement', '', 'group'][i % 6]!;
        for (let j = 0; j < 20; j++) expected.push({ id: 100 * (i + 1) + j, v });
        assert.equal(seen.get(i), true, `session ${i}: committed when it resolved`);
      }
      const rows = (await s.db.selectFrom('t').selectAll().orderBy('id').execute()).map((r) => ({ ...r }));
      assert.deepEqual(rows, expected);
      for (const e of expected) assert.equal(s.committed(e.id)?.v, e.v, `row ${e.id} is committed`);
    } finally {
      await s.close();
    }
  });

  it('keeps read-your-writes inside a transaction and across awaited calls', async () => {
    const s = await open();
    try {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          await s.db.transaction().execute(async (trx) => {
            await trx.insertInto('t').values({ id: i, v: 'a' }).execute();
            const r = await trx.selectFrom('t').select('v').where('id', '=', i).executeTakeFirstOrThrow();
            await trx.updateTable('t').set({ v: r.v + 'b' }).where('id', '=', i).execute();
          });
          const after = await s.db.selectFrom('t').select('v').where('id', '=', i).executeTakeFirstOrThrow();
          assert.equal(after.v, 'ab');
        }),
      );
    } finally {
      await s.close();
    }
  });

  it('lets another process-like connection write between groups (no write lock held while idle)', async () => {
    const s = await open();
    try {
      await s.db.insertInto('t').values({ id: 1, v: 'ours' }).execute();
      // Idle now: a second writer (e.g. a `tessera` CLI command) gets the lock at once.
      const writer = new DatabaseSync(join((await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(s.db)).rows[0]!.file));
      writer.exec('PRAGMA busy_timeout = 0');
      writer.prepare('insert into t (id, v) values (?, ?)').run(2, 'theirs');
      writer.close();
      const rows = (await s.db.selectFrom('t').selectAll().orderBy('id').execute()).map((r) => ({ ...r }));
      assert.deepEqual(rows, [{ id: 1, v: 'ours' }, { id: 2, v: 'theirs' }]);
    } finally {
      await s.close();
    }
  });
});
