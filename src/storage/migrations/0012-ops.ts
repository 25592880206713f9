import { type Kysely } from 'kysely';

/**
 * Orders and async network-token requests remember the `Idempotency-Key` they were created under,
 * in the same transaction. A request whose process is killed after its work commits never stores
 * its answer; the retry with the same key finds what the first attempt created instead of doing it
 * again (an order: paying twice, or failing on the token the first one used; an async request: a
 * second token and a notification nobody asked for).
 */
const TABLES = ['orders', 'network_token_requests'] as const;

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await db.schema.alterTable(table).addColumn('idempotency_key', 'text').execute();
    await db.schema.createIndex(`${table}_idempotency_key`).on(table).columns(['merchant_id', 'idempotency_key']).unique().execute();
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of TABLES) {
    await db.schema.dropIndex(`${table}_idempotency_key`).execute();
    await db.schema.alterTable(table).dropColumn('idempotency_key').execute();
  }
}
