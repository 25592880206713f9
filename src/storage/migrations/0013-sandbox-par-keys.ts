import { SqliteAdapter, sql, type Kysely } from 'kysely';

/**
 * The sandbox TSP's token store on SQLite drops its PAR index: every token's `requestor_key` starts
 * with its card's PAR (`<par>.<identity>`), so the one unique index on it answers both "this
 * requestor's token for this card" (Visa, Amex) and "every token of this card" (a prefix range).
 *
 * Why: each index keyed by a card's HMAC is a random-position insert per token, and on SQLite every
 * such insert is a 4 KB page the single writer appends to the WAL and the checkpointer copies back.
 * A 1,000,000-record batch issues 1,000,000 tokens; one random index fewer is one page fewer each.
 * PostgreSQL keeps its PAR index (a text range there depends on the database's collation).
 *
 * The identity is the one the key held (an HMAC, Visa and Amex, cut to its first 128 bits: a shorter
 * key, a smaller index), or the token's own id (Mastercard, Discover, and deleted tokens, whose
 * identity is freed): never null, and unique as before. Going down gives back the 128 bits only:
 * an older Tessera then finds none of these identities and issues new tokens for them.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`update sandbox_tsp_tokens set requestor_key = par || '.' || coalesce(substr(requestor_key, 1, 32), id)`.execute(db);
  if (db.getExecutor().adapter instanceof SqliteAdapter) await db.schema.dropIndex('sandbox_tsp_tokens_par').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  if (db.getExecutor().adapter instanceof SqliteAdapter) await db.schema.createIndex('sandbox_tsp_tokens_par').on('sandbox_tsp_tokens').column('par').execute();
  await sql`update sandbox_tsp_tokens set requestor_key = case when substr(requestor_key, length(par) + 2) = id then null else substr(requestor_key, length(par) + 2) end`.execute(
    db,
  );
}
