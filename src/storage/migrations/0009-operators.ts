import type { Kysely } from 'kysely';

/**
 * Operators of the dashboard (`/dashboard`) and their server-side sessions (only a hash of the
 * session id is stored), plus the indexes the dashboard's newest-first lists page through.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('operators')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('operator_sessions')
    .addColumn('id_hash', 'text', (c) => c.primaryKey())
    .addColumn('operator_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('operator_sessions_expiry').on('operator_sessions').column('expires_at').execute();
  // Newest-first pages of the dashboard (keyset pagination on created_at + id).
  await db.schema.createIndex('tokens_created').on('tokens').columns(['created_at', 'token_hash']).execute();
  await db.schema.createIndex('tokens_merchant_created').on('tokens').columns(['merchant_id', 'created_at', 'token_hash']).execute();
  await db.schema.createIndex('network_tokens_created').on('network_tokens').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('orders_created').on('orders').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('deliveries_created').on('deliveries').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('deliveries_status_created').on('deliveries').columns(['status', 'created_at', 'id']).execute();
  await db.schema.createIndex('issuer_operations_start').on('issuer_operations').columns(['start_time', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const index of ['issuer_operations_start', 'deliveries_status_created', 'deliveries_created', 'orders_created', 'network_tokens_created', 'tokens_merchant_created', 'tokens_created']) {
    await db.schema.dropIndex(index).execute();
  }
  await db.schema.dropTable('operator_sessions').execute();
  await db.schema.dropTable('operators').execute();
}
