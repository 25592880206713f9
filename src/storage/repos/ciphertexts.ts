import { sql } from 'kysely';
import type { Database, KeyRotationsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

/**
 * Every column that holds a vault ciphertext (`*_ct` under a tenant's data key), with its primary
 * key and what names its tenant. A new `*_ct` column must be added here, or a data rotation would
 * leave it under a data key that then gets deleted (test/keys-rotation.test.ts checks the schema).
 * `sandbox_tsp_tokens` is not here: the simulated network seals with its own key, not the vault's.
 */
export const CIPHERTEXT_COLUMNS = [
  { table: 'merchants', column: 'webhook_secret_ct', key: ['id'], tenant: 'id' },
  { table: 'cards', column: 'card_ct', key: ['id'], tenant: 'merchant_id' },
  { table: 'cards', column: 'cvc_ct', key: ['id'], tenant: 'merchant_id' },
  { table: 'tokens', column: 'card_ct', key: ['token_hash'], tenant: 'merchant_id' },
  { table: 'tokens', column: 'cvc_ct', key: ['token_hash'], tenant: 'merchant_id' },
  { table: 'network_tokens', column: 'card_ct', key: ['id'], tenant: 'merchant_id' },
  { table: 'network_token_requests', column: 'payload_ct', key: ['id'], tenant: 'merchant_id' },
  { table: 'batch_records', column: 'card_ct', key: ['id'], tenant: 'merchant_id' },
  { table: 'idempotency_keys', column: 'response_ct', key: ['merchant_id', 'key'], tenant: 'merchant_id' },
  { table: 'issuers', column: 'webhook_secret_ct', key: ['id'], tenant: 'id' },
  { table: 'issuer_consumers', column: 'personal_ct', key: ['issuer_id', 'id'], tenant: 'issuer_id' },
  { table: 'issuer_cards', column: 'card_ct', key: ['issuer_id', 'id'], tenant: 'issuer_id' },
  { table: 'issuer_batch_records', column: 'request_ct', key: ['issuer_id', 'batch_id', 'seq_number', 'idx'], tenant: 'issuer_id', intKeys: ['seq_number', 'idx'] },
] as const satisfies readonly { table: keyof Database; column: string; key: readonly string[]; tenant: string; intKeys?: readonly string[] }[];

export type CiphertextColumn = (typeof CIPHERTEXT_COLUMNS)[number];

/** One stored ciphertext: its row's key values (in `key` order), its tenant column and the text. */
export interface CiphertextRow {
  key: (string | number)[];
  tenant: string;
  ct: string;
  /** The whole row, for the column's AAD. */
  row: Record<string, unknown>;
}

/** The next `limit` non-null ciphertexts of a column after `after` (keyset order by primary key). */
export async function nextCiphertexts(db: Executor, c: CiphertextColumn, after: (string | number)[] | null, limit: number): Promise<CiphertextRow[]> {
  const keyRefs = sql.join(c.key.map((k) => sql.ref(k)));
  const where = after
    ? sql`${sql.ref(c.column)} is not null and (${keyRefs}) > (${sql.join(after.map((v) => sql`${v}`))})`
    : sql`${sql.ref(c.column)} is not null`;
  const { rows } = await sql<Record<string, unknown>>`select * from ${sql.table(c.table)} where ${where} order by ${keyRefs} limit ${limit}`.execute(db);
  return rows.map((row) => ({
    key: c.key.map((k) => (typeof row[k] === 'bigint' ? Number(row[k]) : (row[k] as string | number))),
    tenant: String(row[c.tenant]),
    ct: String(row[c.column]),
    row,
  }));
}

/**
 * Replaces many ciphertexts of one column in one statement (`UPDATE … FROM (VALUES …)`, which both
 * engines understand; VALUES columns are `column1…` in both), each only if its row still holds the
 * ciphertext that was read. One round trip per batch instead of one per row. Returns how many.
 */
export async function replaceCiphertexts(db: Executor, c: CiphertextColumn, writes: { key: (string | number)[]; from: string; to: string }[]): Promise<number> {
  if (writes.length === 0) return 0;
  const ints: readonly string[] = 'intKeys' in c ? c.intKeys : [];
  const n = c.key.length;
  const tuples = writes.map(
    (w) => sql`(${sql.join([...c.key.map((k, i) => (ints.includes(k) ? sql`cast(${w.key[i]} as integer)` : sql`${w.key[i]}`)), sql`${w.from}`, sql`${w.to}`])})`,
  );
  const match = sql.join(c.key.map((k, i) => sql`${sql.ref(`${c.table}.${k}`)} = ${sql.ref(`v.column${i + 1}`)}`), sql` and `);
  const r = await sql`update ${sql.table(c.table)} set ${sql.ref(c.column)} = ${sql.ref(`v.column${n + 2}`)} from (values ${sql.join(tuples)}) as v where ${match} and ${sql.ref(`${c.table}.${c.column}`)} = ${sql.ref(`v.column${n + 1}`)}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

export async function countCiphertexts(db: Executor, c: CiphertextColumn): Promise<number> {
  const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(c.table)} where ${sql.ref(c.column)} is not null`.execute(db);
  return Number(rows[0]?.n ?? 0);
}

export async function insertKeyRotation(db: Executor, row: KeyRotationsTable): Promise<void> {
  await db.insertInto('key_rotations').values(row).execute();
}

export async function findKeyRotation(db: Executor, id: string): Promise<KeyRotationsTable | undefined> {
  return db.selectFrom('key_rotations').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function findLatestKeyRotation(db: Executor): Promise<KeyRotationsTable | undefined> {
  return db.selectFrom('key_rotations').selectAll().orderBy('started_at', 'desc').limit(1).executeTakeFirst();
}

export async function findRunningKeyRotation(db: Executor): Promise<KeyRotationsTable | undefined> {
  return db.selectFrom('key_rotations').selectAll().where('status', '=', 'running').executeTakeFirst();
}

export async function updateKeyRotation(db: Executor, id: string, set: Partial<KeyRotationsTable>): Promise<void> {
  await db.updateTable('key_rotations').set(set).where('id', '=', id).execute();
}
