import type { SandboxRefundsTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type SandboxRefundRow = SandboxRefundsTable;

export async function findSandboxRefundByReference(db: Executor, reference: string): Promise<SandboxRefundRow | undefined> {
  return db.selectFrom('sandbox_refunds').selectAll().where('reference', '=', reference).executeTakeFirst();
}

/** Inserts unless the reference is taken (a retried refund); returns whether this call inserted. */
export async function insertSandboxRefund(db: Executor, row: SandboxRefundRow): Promise<boolean> {
  const r = await db.insertInto('sandbox_refunds').values(row).onConflict((oc) => oc.column('reference').doNothing()).executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function sumSandboxRefunds(db: Executor, authorizationId: string): Promise<number> {
  const row = await db
    .selectFrom('sandbox_refunds')
    .select((eb) => eb.fn.coalesce(eb.fn.sum<number>('amount'), eb.lit(0)).as('total'))
    .where('authorization_id', '=', authorizationId)
    .executeTakeFirst();
  return Number(row?.total ?? 0);
}
