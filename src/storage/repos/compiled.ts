import { CompiledQuery, type Compilable, type QueryResult } from 'kysely';
import type { Engine } from '../database.ts';
import type { Executor } from './executor.ts';

const ARG = /^\u0000arg(\d+)\u0000$/;
const marker = (i: number) => `\u0000arg${i}\u0000`;

type Slot = { arg: number } | { value: unknown };

/**
 * A hot query whose shape never changes, built and compiled once per engine and then run with new
 * arguments. Kysely builds an immutable node tree and compiles it on every call (tens of µs for a
 * query with subqueries, on the path of every order). `build` runs once, with a marker in place of
 * each argument: every argument must reach the compiled parameters untouched (a value compared or
 * inserted, never one that shapes the SQL), which the first call checks.
 */
export function compiledOnce<A extends unknown[], R>(build: (db: Executor, ...args: A) => Compilable<R>): CompiledOnce<A, R> {
  const plans = new Map<Engine, { sql: string; slots: Slot[] }>();
  const compiledFor = (engine: Engine, db: Executor, args: A): CompiledQuery<R> => {
    let plan = plans.get(engine);
    if (!plan) {
      const compiled = build(db, ...(args.map((_, i) => marker(i)) as A)).compile();
      const slots = compiled.parameters.map((p): Slot => {
        const m = typeof p === 'string' ? ARG.exec(p) : null;
        return m ? { arg: Number(m[1]) } : { value: p };
      });
      for (let i = 0; i < args.length; i++) {
        if (!slots.some((s) => 'arg' in s && s.arg === i)) throw new Error(`compiledOnce: argument ${i} is not a parameter of the query`);
      }
      plan = { sql: compiled.sql, slots };
      plans.set(engine, plan);
    }
    const { sql, slots } = plan;
    return CompiledQuery.raw(sql, slots.map((s) => ('arg' in s ? args[s.arg] : s.value))) as CompiledQuery<R>;
  };
  const run = (engine: Engine, db: Executor, ...args: A): Promise<QueryResult<R>> => db.executeQuery<R>(compiledFor(engine, db, args));
  run.compile = (engine: Engine, db: Executor, ...args: A): CompiledQuery<R> => compiledFor(engine, db, args);
  run.each = async (engine: Engine, db: Executor, argLists: A[]): Promise<QueryResult<R>[]> => {
    if (argLists.length === 0) return [];
    // One hand-over of the connection for all of them (the executor's, so a transaction's own).
    // Kysely's executeQuery adds only its plugins' result transforms, and these handles have none.
    return db.getExecutor().provideConnection(async (connection) => {
      const results: QueryResult<R>[] = [];
      for (const args of argLists) results.push(await connection.executeQuery<R>(compiledFor(engine, db, args)));
      return results;
    });
  };
  return run;
}

/** A `compiledOnce` query: run with one argument list, or `each` of several in turn. */
export interface CompiledOnce<A extends unknown[], R> {
  (engine: Engine, db: Executor, ...args: A): Promise<QueryResult<R>>;
  /** The query with these arguments, to run elsewhere (e.g. a `SharedSession`). */
  compile(engine: Engine, db: Executor, ...args: A): CompiledQuery<R>;
  /**
   * The query once per argument list, in order, in one hand-over of the connection: a batch's
   * per-row statements (hundreds in a transaction on SQLite) each skip a pass through Kysely's
   * connection provider (its promises, ~3 KB of garbage a statement). The first failure throws,
   * as it would run one by one.
   */
  each(engine: Engine, db: Executor, argLists: A[]): Promise<QueryResult<R>[]>;
}

/**
 * `compiledOnce` for a one-row INSERT of every column of a table: `columns` names them (the type
 * checks it against the row: none missing, none extra), `build` adds the table and any ON CONFLICT
 * to the row it is given, and the result takes a row. Absent optional columns are inserted as NULL.
 */
export function compiledInsert<Row extends object>(columns: Record<keyof Row, 1>, build: (db: Executor, row: Row) => Compilable<unknown>) {
  const names = Object.keys(columns) as (keyof Row)[];
  const query = compiledOnce((db: Executor, ...values: unknown[]) => build(db, Object.fromEntries(names.map((c, i) => [c, values[i]])) as Row));
  const valuesOf = (row: Row) => names.map((c) => row[c] ?? null);
  const insert = (engine: Engine, db: Executor, row: Row): Promise<QueryResult<unknown>> => query(engine, db, ...valuesOf(row));
  /** One INSERT per row, in order, in one hand-over of the connection (`CompiledOnce.each`). */
  insert.each = (engine: Engine, db: Executor, rows: Row[]): Promise<QueryResult<unknown>[]> => query.each(engine, db, rows.map(valuesOf));
  insert.compile = (engine: Engine, db: Executor, row: Row): CompiledQuery<unknown> => query.compile(engine, db, ...valuesOf(row));
  return insert;
}
