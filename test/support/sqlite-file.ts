import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely, sql } from 'kysely';
import { nodeSqliteDialect } from '../../src/storage/node-sqlite-dialect.ts';

export interface Schema {
  t: { id: number; v: string };
}

/**
 * The embedded store's dialect on a fresh file with one table `t`: its Kysely (group commit), the
 * bulk handle on the same connection (`Db.bulk`), and a second, independent connection that sees
 * only what is committed.
 */
export async function openSqliteFile() {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-group-'));
  const path = join(dir, 'x.db');
  const dialect = nodeSqliteDialect(path);
  const db = new Kysely<Schema>({ dialect });
  const bulk = new Kysely<Schema>({ dialect: dialect.bulk() });
  await sql`create table t (id integer primary key, v text not null)`.execute(db);
  const other = new DatabaseSync(path);
  other.exec('PRAGMA busy_timeout = 5000');
  const committed = (id: number) => other.prepare('select v from t where id = ?').get(id) as { v: string } | undefined;
  return {
    db,
    bulk,
    committed,
    async close() {
      other.close();
      await bulk.destroy();
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
