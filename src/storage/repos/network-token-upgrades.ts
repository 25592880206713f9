import type { NetworkTokenUpgradesTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type NetworkTokenUpgradeRow = NetworkTokenUpgradesTable;

/** Records that an upgrade was asked for; returns false when one already was (by anyone). */
export async function insertUpgrade(db: Executor, row: NetworkTokenUpgradeRow): Promise<boolean> {
  const r = await db
    .insertInto('network_token_upgrades')
    .values(row)
    .onConflict((oc) => oc.columns(['merchant_id', 'fingerprint']).doNothing())
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function finishUpgrade(
  db: Executor,
  merchantId: string,
  fingerprint: string,
  patch: { status: string; network_token_id: string | null; reason: string | null; updated_at: number },
): Promise<void> {
  await db.updateTable('network_token_upgrades').set(patch).where('merchant_id', '=', merchantId).where('fingerprint', '=', fingerprint).execute();
}
