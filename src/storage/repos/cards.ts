import type { CardsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type CardRow = CardsTable;

/** Inserts a saved card unless the customer already has it; returns the live row either way. */
export async function insertCardOrFindExisting(db: Executor, row: CardRow): Promise<{ card: CardRow; created: boolean }> {
  const result = await db
    .insertInto('cards')
    .values(row)
    .onConflict((oc) =>
      oc.columns(['merchant_id', 'customer_id', 'fingerprint_exp']).where('deleted_at', 'is', null).doNothing(),
    )
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) > 0) return { card: row, created: true };
  const existing = await db
    .selectFrom('cards')
    .selectAll()
    .where('merchant_id', '=', row.merchant_id)
    .where('customer_id', '=', row.customer_id)
    .where('fingerprint_exp', '=', row.fingerprint_exp)
    .where('deleted_at', 'is', null)
    .executeTakeFirstOrThrow();
  return { card: existing, created: false };
}

/** A merchant's own live card; another merchant's id finds nothing. */
export async function findCard(db: Executor, merchantId: string, id: string): Promise<CardRow | undefined> {
  return db
    .selectFrom('cards')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

export async function listCustomerCards(db: Executor, merchantId: string, customerId: string): Promise<CardRow[]> {
  return db
    .selectFrom('cards')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('customer_id', '=', customerId)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
}

/** Deletes a card: its ciphertexts are erased at once; the row stays as a tombstone. */
export async function deleteCard(db: Executor, merchantId: string, customerId: string, id: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('cards')
    .set({ deleted_at: now, card_ct: '', cvc_ct: null, cvc_expires_at: null })
    .where('merchant_id', '=', merchantId)
    .where('customer_id', '=', customerId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

export async function setCardCvc(db: Executor, id: string, cvcCt: string | null, expiresAt: number | null): Promise<void> {
  await db.updateTable('cards').set({ cvc_ct: cvcCt, cvc_expires_at: expiresAt }).where('id', '=', id).execute();
}

/** Erases the CVCs whose pending use has lapsed. Returns how many were erased. */
export async function eraseLapsedCvcs(db: Executor, now: number): Promise<number> {
  const result = await db
    .updateTable('cards')
    .set({ cvc_ct: null, cvc_expires_at: null })
    .where('cvc_expires_at', '<=', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
