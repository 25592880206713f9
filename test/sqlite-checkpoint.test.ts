import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/**
 * Runs `body` as a script of its own process (ES module), after `db`, a Kysely on a fresh SQLite file
 * opened with `dialectOptions` (no `destroy()` unless `body` calls it). Returns the finished process.
 */
function runAlone(body: string, dialectOptions: { restartFrames?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-wal-'));
  try {
    const dialect = new URL('../src/storage/node-sqlite-dialect.ts', import.meta.url).href;
    const script = join(dir, 'alone.mjs');
    writeFileSync(
      script,
      `import { Kysely, sql } from '${import.meta.resolve('kysely')}'; import { nodeSqliteDialect } from '${dialect}';
      const db = new Kysely({ dialect: nodeSqliteDialect(${JSON.stringify(join(dir, 'x.db'))}, ${JSON.stringify(dialectOptions)}) });
      ${body}`,
    );
    const res = spawnSync(process.execPath, [script], { timeout: 30_000, encoding: 'utf8' });
    assert.equal(res.error, undefined, 'the process exited on its own');
    return res;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('SQLite store and process exit', () => {
  it('lets a process that ends without closing the store exit (the checkpointer thread does not hold it)', () => {
    // As a CLI command that fails: a query, an exit code, no destroy().
    const res = runAlone('await sql`select 1`.execute(db); process.exitCode = 3;');
    assert.equal(res.status, 3, res.stderr);
  });

  it('keeps a process whose only work is writing alive through the pauses of WAL restarts (regression: a CLI command ended mid-way, exit 13)', () => {
    // As `tessera keys rotate --data` on a busy store: awaited writes and nothing else (no timer, no
    // socket), while the WAL passes its limit (64 frames here) and the checkpointer asks for a pause.
    const res = runAlone(
      `await sql\`create table t (id integer primary key, v text)\`.execute(db);
      const until = Date.now() + 3500;
      let n = 0;
      while (Date.now() < until) await db.insertInto('t').values({ id: n++, v: 'x'.repeat(3000) }).execute();
      const { rows } = await sql\`select count(*) as c from t\`.execute(db);
      await db.destroy();
      process.stdout.write(JSON.stringify({ written: n, stored: Number(rows[0].c) }));`,
      { restartFrames: 64 },
    );
    assert.equal(res.status, 0, res.stderr);
    const { written, stored } = JSON.parse(res.stdout) as { written: number; stored: number };
    assert.equal(stored, written);
  });
});
