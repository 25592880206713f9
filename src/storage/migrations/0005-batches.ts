import type { Kysely } from 'kysely';

/**
 * Bulk tokenization (`/cof/v1/batches`): batches, their records (each card sealed under the
 * merchant's data key until processed, then erased), per-batch-per-issuer fair-queue positions,
 * the shared per-issuer pacing state, and the sandbox TSP's request-id dedup and per-second meter.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('batches')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('merchant_id', 'text', (c) => c.notNull().references('merchants.id'))
    .addColumn('batch_id', 'text', (c) => c.notNull())
    .addColumn('correlation_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('chunks', 'integer', (c) => c.notNull())
    .addColumn('total_records', 'integer', (c) => c.notNull())
    .addColumn('succeeded', 'integer', (c) => c.notNull())
    .addColumn('failed', 'integer', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('closed_at', 'bigint')
    .addColumn('completed_at', 'bigint')
    .addUniqueConstraint('batches_merchant_batch', ['merchant_id', 'batch_id'])
    .execute();
  await db.schema.createIndex('batches_status').on('batches').columns(['status']).execute();

  await db.schema
    .createTable('batch_records')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('batch_pk', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('merchant_id', 'text', (c) => c.notNull())
    .addColumn('row_id', 'text', (c) => c.notNull())
    .addColumn('bin', 'text', (c) => c.notNull())
    .addColumn('vtime', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('card_ct', 'text')
    .addColumn('attempts', 'integer', (c) => c.notNull())
    .addColumn('not_before', 'bigint', (c) => c.notNull())
    .addColumn('lease_until', 'bigint')
    .addColumn('claimed_by', 'text')
    .addColumn('token_id', 'text')
    .addColumn('token_status', 'text')
    .addColumn('card_last4', 'text')
    .addColumn('error_code', 'text')
    .addColumn('message', 'text')
    .addColumn('done_at', 'bigint')
    .addUniqueConstraint('batch_records_row', ['batch_pk', 'row_id'])
    .addUniqueConstraint('batch_records_seq', ['batch_pk', 'seq'])
    .execute();
  await db.schema.createIndex('batch_records_queue').on('batch_records').columns(['status', 'bin', 'vtime']).execute();

  await db.schema
    .createTable('batch_bins')
    .addColumn('batch_pk', 'text', (c) => c.notNull())
    .addColumn('bin', 'text', (c) => c.notNull())
    .addColumn('next_vtime', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('batch_bins_pk', ['batch_pk', 'bin'])
    .execute();

  await db.schema
    .createTable('batch_issuers')
    .addColumn('bin', 'text', (c) => c.primaryKey())
    .addColumn('pending', 'integer', (c) => c.notNull())
    .addColumn('vclock', 'bigint', (c) => c.notNull())
    .addColumn('rate', 'integer', (c) => c.notNull())
    .addColumn('milli_tokens', 'bigint', (c) => c.notNull())
    .addColumn('refilled_at', 'bigint', (c) => c.notNull())
    .addColumn('paused_until', 'bigint', (c) => c.notNull())
    .addColumn('throttled_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema.alterTable('sandbox_tsp_tokens').addColumn('request_id', 'text').execute();
  await db.schema.createIndex('sandbox_tsp_tokens_request').on('sandbox_tsp_tokens').column('request_id').unique().execute();

  await db.schema
    .createTable('sandbox_issuer_buckets')
    .addColumn('bin', 'text', (c) => c.primaryKey())
    .addColumn('tokens', 'double precision', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('sandbox_issuer_seconds')
    .addColumn('bin', 'text', (c) => c.notNull())
    .addColumn('second', 'bigint', (c) => c.notNull())
    .addColumn('accepted', 'integer', (c) => c.notNull())
    .addColumn('throttled', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('sandbox_issuer_seconds_pk', ['bin', 'second'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['sandbox_issuer_seconds', 'sandbox_issuer_buckets', 'batch_issuers', 'batch_bins', 'batch_records', 'batches']) {
    await db.schema.dropTable(table).execute();
  }
  await db.schema.dropIndex('sandbox_tsp_tokens_request').execute();
  await db.schema.alterTable('sandbox_tsp_tokens').dropColumn('request_id').execute();
}
