import { sql, type Kysely } from 'kysely';

/** At most one live (pending or successful) operation of a kind per card: concurrent requests share it. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createIndex('issuer_operations_live')
    .on('issuer_operations')
    .columns(['issuer_id', 'card_id', 'operation'])
    .unique()
    .where(sql.ref('status'), '<>', 'FAILED')
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('issuer_operations_live').execute();
}
