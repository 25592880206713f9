import type { CustomersTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type CustomerRow = CustomersTable;

export async function insertCustomer(db: Executor, row: CustomerRow): Promise<void> {
  await db.insertInto('customers').values(row).execute();
}

/** A merchant's own customer; another merchant's id finds nothing. */
export async function findCustomer(db: Executor, merchantId: string, id: string): Promise<CustomerRow | undefined> {
  return db.selectFrom('customers').selectAll().where('merchant_id', '=', merchantId).where('id', '=', id).executeTakeFirst();
}
