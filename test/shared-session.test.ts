import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, Kysely, type QueryExecutor } from 'kysely';
import { SharedSession } from '../src/storage/shared-session.ts';
import { openSqliteFile, type Schema } from './support/sqlite-file.ts';

/** A fresh file (see `openSqliteFile`); `committed` gives a row's value as another connection sees it. */
async function open() {
  const s = await openSqliteFile();
  return { db: s.db, committed: (id: number) => s.committed(id)?.v, close: s.close };
}

const insert = (id: number, v: string | null) => CompiledQuery.raw('insert into t (id, v) values (?, ?)', [id, v]);

/** `db`, counting the sessions taken from it. */
function counted(db: Kysely<Schema>) {
  const counter = { sessions: 0 };
  const source = {
    getExecutor: (): Pick<QueryExecutor, 'provideConnection'> => ({
      provideConnection: (consumer) => {
        counter.sessions++;
        return db.getExecutor().provideConnection(consumer);
      },
    }),
  };
  return { source, counter };
}

describe('a session shared by the statements of one turn of the event loop (SQLite)', () => {
  it('runs them in a few sessions, each caller told its own result only once its row is committed', async () => {
    const s = await open();
    try {
      const { source, counter } = counted(s.db);
      const session = new SharedSession(source, 100);
      const seen: (string | undefined)[] = [];
      const changes: number[] = [];
      await Promise.all(
        Array.from({ length: 300 }, async (_, i) => {
          const result = await session.execute(insert(i, `row ${i}`));
          changes[i] = Number(result.numAffectedRows);
          seen[i] = s.committed(i);
        }),
      );
      assert.deepEqual(changes, Array(300).fill(1));
      assert.deepEqual(seen, Array.from({ length: 300 }, (_, i) => `row ${i}`));
      assert.equal(counter.sessions, 3, 'at most 100 statements a session');
    } finally {
      await s.close();
    }
  });

  it('a failing statement fails its caller alone; the others are stored', async () => {
    const s = await open();
    try {
      await s.db.insertInto('t').values({ id: 1, v: 'taken' }).execute();
      const session = new SharedSession(s.db);
      const results = await Promise.allSettled([session.execute(insert(0, 'a')), session.execute(insert(1, 'again')), session.execute(insert(2, null)), session.execute(insert(3, 'd'))]);
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'rejected', 'rejected', 'fulfilled'],
      );
      assert.deepEqual([0, 1, 2, 3].map(s.committed), ['a', 'taken', undefined, 'd']);
    } finally {
      await s.close();
    }
  });

  it('a session that fails fails each of its callers, and the next one runs', async () => {
    const s = await open();
    try {
      let fail = true;
      const source = {
        getExecutor: (): Pick<QueryExecutor, 'provideConnection'> => ({
          provideConnection: async (consumer) => {
            if (fail) {
              fail = false;
              throw new Error('could not take the connection');
            }
            return s.db.getExecutor().provideConnection(consumer);
          },
        }),
      };
      const session = new SharedSession(source);
      const first = await Promise.allSettled([session.execute(insert(0, 'a')), session.execute(insert(1, 'b'))]);
      assert.deepEqual(
        first.map((r) => r.status),
        ['rejected', 'rejected'],
      );
      await session.execute(insert(2, 'c'));
      assert.deepEqual([0, 1, 2].map(s.committed), [undefined, undefined, 'c']);
    } finally {
      await s.close();
    }
  });
});
