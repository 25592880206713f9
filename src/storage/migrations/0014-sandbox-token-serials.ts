import { type Kysely } from 'kysely';

/**
 * The sandbox TSP numbers its tokens from per-network serials (`sandbox/token-numbers.ts`), taken
 * from this counter in blocks. A token's `token_pan_fingerprint` is then `#<token BIN><serial>`, in
 * serial order (an index insert at its end), where it was an HMAC of the token number (a
 * random-position insert per token); tokens numbered before keep theirs, and both are looked up.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('sandbox_counters')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('next', 'bigint', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('sandbox_counters').execute();
}
