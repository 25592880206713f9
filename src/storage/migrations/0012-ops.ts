import { type Kysely } from 'kysely';

/**
 * An order remembers the `Idempotency-Key` it was created under, in the same transaction. A request
 * killed mid-payment (its process SIGKILLed) never stores its answer; the retry with the same key
 * finds the order instead of paying a second time or failing on the token the first one used.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('orders').addColumn('idempotency_key', 'text').execute();
  await db.schema.createIndex('orders_idempotency_key').on('orders').columns(['merchant_id', 'idempotency_key']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('orders_idempotency_key').execute();
  await db.schema.alterTable('orders').dropColumn('idempotency_key').execute();
}
