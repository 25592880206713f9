import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';

/**
 * Hosted card fields (issue 7): one publishable key per merchant and the browser origins allowed to
 * use it (a table of its own, so the merchants row stays as it was); existing merchants get a key.
 * Orders gain the installment plans the hosted payment page offers (JSON, null = single payment).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('merchant_publishable_keys')
    .addColumn('merchant_id', 'text', (c) => c.primaryKey().references('merchants.id'))
    .addColumn('publishable_key', 'text', (c) => c.notNull().unique())
    .addColumn('allowed_origins', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  const merchants: { id: string }[] = await db.selectFrom('merchants').select('id').execute();
  for (const m of merchants) {
    await db
      .insertInto('merchant_publishable_keys')
      .values({ merchant_id: m.id, publishable_key: 'pk_test_' + randomBytes(16).toString('hex'), allowed_origins: '[]', updated_at: Date.now() })
      .execute();
  }
  await db.schema.alterTable('orders').addColumn('installment_options', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('orders').dropColumn('installment_options').execute();
  await db.schema.dropTable('merchant_publishable_keys').execute();
}
