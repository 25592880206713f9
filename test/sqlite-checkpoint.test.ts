import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, sql } from 'kysely';
import { nodeSqliteDialect } from '../src/storage/node-sqlite-dialect.ts';
import { eventually } from './support/harness.ts';

describe('SQLite WAL checkpoints (embedded default)', () => {
  it('are done by the background thread: the serving connection never checkpoints, yet the database file catches up', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-wal-'));
    const db = new Kysely<{ t: { id: number; v: string } }>({ dialect: nodeSqliteDialect(join(dir, 'x.db')) });
    try {
      await sql`create table t (id integer primary key, v text)`.execute(db);
      const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db);
      assert.equal(rows[0]!.wal_autocheckpoint, 0, 'automatic checkpoints are off on the serving connection');
      const before = statSync(join(dir, 'x.db')).size;
      for (let i = 0; i < 2000; i++) await db.insertInto('t').values({ id: i, v: 'x'.repeat(500) }).execute();
      // ~1 MB went to the WAL; only a checkpoint copies it into the database file.
      await eventually(async () => (statSync(join(dir, 'x.db')).size > before + 500_000 ? true : undefined), 5000, 'a background checkpoint');
      // Still off: the thread did it. (Should the thread die, the serving connection turns automatic
      // checkpoints back on — which also makes the file catch up, so the size alone proves nothing.)
      const after = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db);
      assert.equal(after.rows[0]!.wal_autocheckpoint, 0, 'the checkpointer thread is alive: the serving connection did not take checkpoints back');
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
