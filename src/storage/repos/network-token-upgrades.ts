import type { NetworkTokenUpgradesTable, NetworkTokensTable } from '../schema.ts';
import type { Executor } from './executor.ts';

export type NetworkTokenUpgradeRow = NetworkTokenUpgradesTable;

/** The merchant's newest network token for a card (by PAN fingerprint), whatever its state. */
export async function findNetworkTokenForCard(db: Executor, merchantId: string, fingerprint: string): Promise<NetworkTokensTable | undefined> {
  return db
    .selectFrom('network_tokens')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('card_fingerprint', '=', fingerprint)
    .orderBy('created_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export async function findUpgrade(db: Executor, merchantId: string, fingerprint: string): Promise<NetworkTokenUpgradeRow | undefined> {
  return db.selectFrom('network_token_upgrades').selectAll().where('merchant_id', '=', merchantId).where('fingerprint', '=', fingerprint).executeTakeFirst();
}

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
