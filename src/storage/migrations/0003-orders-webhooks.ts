import type { Kysely } from 'kysely';

/**
 * Orders paid with vault tokens, their refunds, merchant webhook subscriptions (and which delivery
 * went to which subscription), idempotency keys, network-token upgrades of vault cards, sandbox
 * refunds, and the card fingerprint of network tokens (so a vault card finds its network token).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull().references('merchants.id'))
    .addColumn('number', 'text', (c) => c.notNull())
    .addColumn('customer_id', 'text')
    .addColumn('currency', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('items', 'text', (c) => c.notNull())
    .addColumn('subtotal', 'bigint', (c) => c.notNull())
    .addColumn('total', 'bigint', (c) => c.notNull())
    .addColumn('notify_url', 'text')
    .addColumn('redirect_url', 'text')
    .addColumn('installments', 'integer')
    .addColumn('fixed_installments', 'integer')
    .addColumn('token_type', 'text')
    .addColumn('brand', 'text')
    .addColumn('last4', 'text')
    .addColumn('payment_status', 'text')
    .addColumn('payment_reference', 'text')
    .addColumn('authorization_id', 'text')
    .addColumn('credential', 'text')
    .addColumn('decline_code', 'text')
    .addColumn('captured_amount', 'bigint', (c) => c.notNull())
    .addColumn('refunded_amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('paid_at', 'bigint')
    .addUniqueConstraint('orders_merchant_number', ['merchant_id', 'number'])
    .execute();
  await db.schema.createIndex('orders_merchant_created').on('orders').columns(['merchant_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('orders_merchant_status').on('orders').columns(['merchant_id', 'status', 'created_at', 'id']).execute();
  // The reconciler's scan: payments still `pending` long after their request should have ended.
  await db.schema.createIndex('orders_payment_pending').on('orders').columns(['payment_status', 'updated_at']).execute();

  await db.schema
    .createTable('order_refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('order_id', 'text', (c) => c.notNull().references('orders.id'))
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .execute();
  await db.schema.createIndex('order_refunds_order').on('order_refunds').columns(['order_id', 'created_at']).execute();

  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull().references('merchants.id'))
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_at', 'bigint')
    .execute();
  await db.schema.createIndex('webhooks_merchant').on('webhooks').columns(['merchant_id', 'created_at']).execute();

  await db.schema
    .createTable('webhook_deliveries')
    .addColumn('delivery_id', 'text', (c) => c.primaryKey())
    .addColumn('webhook_id', 'text', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('webhook_deliveries_webhook').on('webhook_deliveries').columns(['webhook_id', 'created_at']).execute();

  await db.schema
    .createTable('idempotency_keys')
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('request_hash', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('response_status', 'integer')
    .addColumn('response_type', 'text')
    .addColumn('response_ct', 'text')
    .addColumn('locked_until', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('idempotency_keys_pk', ['merchant_id', 'key'])
    .execute();
  await db.schema.createIndex('idempotency_keys_expires').on('idempotency_keys').column('expires_at').execute();

  await db.schema
    .createTable('network_token_upgrades')
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('network_token_id', 'text')
    .addColumn('reason', 'text')
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('network_token_upgrades_pk', ['merchant_id', 'fingerprint'])
    .execute();

  await db.schema
    .createTable('sandbox_refunds')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('authorization_id', 'text', (c) => c.notNull())
    .addColumn('reference', 'text', (c) => c.notNull().unique())
    .addColumn('amount', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.alterTable('network_tokens').addColumn('card_fingerprint', 'text').execute();
  await db.schema.createIndex('network_tokens_card').on('network_tokens').columns(['merchant_id', 'card_fingerprint']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('network_tokens_card').execute();
  await db.schema.alterTable('network_tokens').dropColumn('card_fingerprint').execute();
  for (const table of ['sandbox_refunds', 'network_token_upgrades', 'idempotency_keys', 'webhook_deliveries', 'webhooks', 'order_refunds', 'orders']) {
    await db.schema.dropTable(table).execute();
  }
}
