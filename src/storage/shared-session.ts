import type { CompiledQuery, QueryExecutor, QueryResult } from 'kysely';
import { TurnQueue } from './turn-queue.ts';

/** What a session is taken from: a Kysely handle (not a transaction: its statements stand alone). */
type SessionSource = { getExecutor(): Pick<QueryExecutor, 'provideConnection'> };

interface Waiting {
  query: CompiledQuery;
  resolve: (result: QueryResult<unknown>) => void;
  reject: (err: unknown) => void;
}

/**
 * One session for the hot statements of many callers: the statements handed over in one turn of the
 * event loop run one after the other in a single hand-over of the connection, each on its own (not
 * in a transaction: a failed one undoes only itself and fails only its caller). Each caller gets its
 * statement's result once the session is over — on the embedded SQLite, once the commit group it
 * joined has committed, as a session of its own would. What it saves is the session: Kysely's
 * connection provider and the group's hand-over, per statement (~5 µs and a few KB of garbage).
 * Only for a store whose sessions are cheap to share: on PostgreSQL one session is one pooled
 * connection, and its statements would wait on each other's round trips.
 */
export class SharedSession {
  readonly #db: SessionSource;
  readonly #queue: TurnQueue<Waiting>;

  /** `max`: statements a session runs at most. */
  constructor(db: SessionSource, max = 256) {
    this.#db = db;
    this.#queue = new TurnQueue((batch) => this.#run(batch), max);
  }

  execute<R>(query: CompiledQuery<R>): Promise<QueryResult<R>> {
    return new Promise<QueryResult<R>>((resolve, reject) => this.#queue.push({ query, resolve: resolve as (result: QueryResult<unknown>) => void, reject }));
  }

  async #run(batch: Waiting[]): Promise<void> {
    const outcomes: ({ ok: true; result: QueryResult<unknown> } | { ok: false; err: unknown })[] = [];
    try {
      await this.#db.getExecutor().provideConnection(async (connection) => {
        for (const w of batch) {
          try {
            outcomes.push({ ok: true, result: await connection.executeQuery(w.query) });
          } catch (err) {
            outcomes.push({ ok: false, err });
          }
        }
      });
    } catch (err) {
      // The session itself failed (e.g. its commit): none of its statements is known to be stored.
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => {
      const o = outcomes[i]!;
      if (o.ok) w.resolve(o.result);
      else w.reject(o.err);
    });
  }
}
