import type { Kysely } from 'kysely';

/**
 * The issuer face (`/banking/v1`, D1 style): issuers and their registered public keys, used
 * assertion ids (replay refusal), consumers and cards (card data vault-encrypted), eCom and Click
 * to Pay tokens, Click to Pay operations, and batch files with one row per record.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('issuers')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('webhook_secret_ct', 'text', (c) => c.notNull())
    .addColumn('notify_url', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('records_per_second', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('issuer_keys')
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('kid', 'text', (c) => c.notNull())
    .addColumn('use', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('issuer_keys_pk', ['issuer_id', 'kid'])
    .execute();

  await db.schema
    .createTable('issuer_assertions')
    .addColumn('issuer_id', 'text', (c) => c.notNull())
    .addColumn('jti', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('issuer_assertions_pk', ['issuer_id', 'jti'])
    .execute();
  await db.schema.createIndex('issuer_assertions_expiry').on('issuer_assertions').column('expires_at').execute();

  await db.schema
    .createTable('issuer_consumers')
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('personal_ct', 'text', (c) => c.notNull())
    .addColumn('has_email', 'integer', (c) => c.notNull())
    .addColumn('has_phone', 'integer', (c) => c.notNull())
    .addColumn('c2p_profile_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('issuer_consumers_pk', ['issuer_id', 'id'])
    .execute();

  await db.schema
    .createTable('issuer_cards')
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('id', 'text', (c) => c.notNull())
    .addColumn('consumer_id', 'text', (c) => c.notNull())
    .addColumn('card_ct', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('network', 'text', (c) => c.notNull())
    .addColumn('bin', 'text', (c) => c.notNull())
    .addColumn('last4', 'text', (c) => c.notNull())
    .addColumn('expiry', 'text', (c) => c.notNull())
    .addColumn('c2p_status', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('issuer_cards_pk', ['issuer_id', 'id'])
    .execute();

  await db.schema
    .createTable('issuer_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('card_id', 'text', (c) => c.notNull())
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('network', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('token_last4', 'text', (c) => c.notNull())
    .addColumn('token_expiry', 'text', (c) => c.notNull())
    .addColumn('par', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('issuer_tokens_card').on('issuer_tokens').columns(['issuer_id', 'card_id']).execute();

  await db.schema
    .createTable('issuer_operations')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('card_id', 'text', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('reason_code', 'text')
    .addColumn('error_code', 'text')
    .addColumn('start_time', 'bigint', (c) => c.notNull())
    .addColumn('end_time', 'bigint')
    .execute();
  await db.schema.createIndex('issuer_operations_card').on('issuer_operations').columns(['issuer_id', 'card_id', 'start_time']).execute();

  await db.schema
    .createTable('issuer_batches')
    .addColumn('issuer_id', 'text', (c) => c.notNull().references('issuers.id'))
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('seq_number', 'integer', (c) => c.notNull())
    .addColumn('operation', 'text', (c) => c.notNull())
    .addColumn('auto_enrolment', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('total_records', 'integer', (c) => c.notNull())
    .addColumn('processed_records', 'integer', (c) => c.notNull())
    .addColumn('ko_records', 'integer', (c) => c.notNull())
    .addColumn('out_path', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('completed_at', 'bigint')
    .addPrimaryKeyConstraint('issuer_batches_pk', ['issuer_id', 'batch_id', 'seq_number'])
    .execute();

  await db.schema
    .createTable('issuer_batch_records')
    .addColumn('issuer_id', 'text', (c) => c.notNull())
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('seq_number', 'integer', (c) => c.notNull())
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('request_ct', 'text')
    .addColumn('result', 'text')
    .addPrimaryKeyConstraint('issuer_batch_records_pk', ['issuer_id', 'batch_id', 'seq_number', 'idx'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'issuer_batch_records',
    'issuer_batches',
    'issuer_operations',
    'issuer_tokens',
    'issuer_cards',
    'issuer_consumers',
    'issuer_assertions',
    'issuer_keys',
    'issuers',
  ]) {
    await db.schema.dropTable(table).execute();
  }
}
