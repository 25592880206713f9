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

describe('SQLite WAL restarts under sustained writes', () => {
  it('keeps the WAL near its limit while writers never stop, and no write fails or waits on the checkpointer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-wal-'));
    const file = join(dir, 'x.db');
    // A 1 MB limit (256 frames of 4 KB) instead of 64 MB: the same mechanism, in seconds.
    const db = new Kysely<{ t: { id: number; v: string } }>({ dialect: nodeSqliteDialect(file, { restartFrames: 256 }) });
    try {
      await sql`create table t (id integer primary key, v text)`.execute(db);
      let id = 0;
      let largestWal = 0;
      let slowest = 0;
      const until = Date.now() + 5000;
      // Eight writers, one always busy: PASSIVE rounds alone would never reach the end of the log.
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (Date.now() < until) {
            const t0 = performance.now();
            await db.insertInto('t').values({ id: id++, v: 'x'.repeat(2000) }).execute();
            slowest = Math.max(slowest, performance.now() - t0);
            largestWal = Math.max(largestWal, statSync(`${file}-wal`).size);
            await new Promise((r) => setTimeout(r, 2));
          }
        }),
      );
      const written = id * 2000;
      assert.ok(written > 10_000_000, `enough writes to need restarts: ${written} bytes`);
      // Bounded by the limit plus what arrives during one checkpoint round (1 s), not by what was written.
      assert.ok(largestWal < written / 2, `the WAL was restarted: largest ${largestWal} bytes for ${written} written`);
      // A pause for the restart lasts one copy of a second's frames; the 5 s busy_timeout would show here.
      assert.ok(slowest < 1500, `a write waited ${slowest.toFixed(0)} ms`);
    } finally {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
