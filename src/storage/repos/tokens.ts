import type { Updateable } from 'kysely';
import type { TokensTable } from '../schema.ts';
import type { Engine } from '../database.ts';
import { compiledOnce } from './compiled.ts';
import type { Executor } from './executor.ts';

export type TokenRow = TokensTable;

export async function insertToken(db: Executor, row: TokenRow): Promise<void> {
  await db.insertInto('tokens').values(row).execute();
}

/** One multi-row INSERT (see `BatchedInserter`). */
export async function insertTokens(db: Executor, rows: TokenRow[]): Promise<void> {
  if (rows.length > 0) await db.insertInto('tokens').values(rows).execute();
}

/** A merchant's own live token by hash; another merchant's token finds nothing. */
export async function findToken(db: Executor, merchantId: string, tokenHash: string): Promise<TokenRow | undefined> {
  return db
    .selectFrom('tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .where('merchant_id', '=', merchantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** The columns of a token an order reads (not its validation details nor its card's plain metadata). */
const PAYING_COLUMNS = ['validation_status', 'expires_at', 'used_at', 'card_ct', 'cvc_ct', 'brand', 'last4', 'installments', 'fixed_installments', 'fingerprint'] as const;

/** A token an order pays with, read with what its card pays over (one statement where three were). */
export type PayingTokenRow = Pick<TokenRow, (typeof PAYING_COLUMNS)[number]> & {
  /** The merchant's newest network token for the card (any state), if any. */
  nt_id: string | null;
  nt_status: string | null;
  /** Whether a network token was asked for the card already (an upgrade row exists): truthy on either engine. */
  upgrade_asked: unknown;
};

/** `findToken`, with the card's newest network token and whether an upgrade was asked for (for permanent tokens). */
export async function findPayingToken(engine: Engine, db: Executor, merchantId: string, tokenHash: string): Promise<PayingTokenRow | undefined> {
  return (await payingTokenQuery(engine, db, merchantId, tokenHash)).rows[0];
}

// On the path of every order paid with a token: built once (see `compiledOnce`). The newest
// network token is found once (a subquery in the join) and both its columns read from the join.
const payingTokenQuery = compiledOnce((db: Executor, merchantId: string, tokenHash: string) =>
  db
    .selectFrom('tokens')
    .leftJoin('network_tokens as nt', (join) =>
      join.on((eb) =>
        eb(
          'nt.id',
          '=',
          eb
            .selectFrom('network_tokens as newest')
            .select('newest.id')
            .whereRef('newest.merchant_id', '=', 'tokens.merchant_id')
            .whereRef('newest.card_fingerprint', '=', 'tokens.fingerprint')
            .orderBy('newest.created_at', 'desc')
            .limit(1),
        ),
      ),
    )
    .select(PAYING_COLUMNS.map((c) => `tokens.${c}` as const))
    .select((eb) => [
      'nt.id as nt_id',
      'nt.status as nt_status',
      eb
        .exists(
          eb
            .selectFrom('network_token_upgrades as u')
            .select('u.fingerprint')
            .whereRef('u.merchant_id', '=', 'tokens.merchant_id')
            .whereRef('u.fingerprint', '=', 'tokens.fingerprint'),
        )
        .as('upgrade_asked'),
    ])
    .where('tokens.token_hash', '=', tokenHash)
    .where('tokens.merchant_id', '=', merchantId)
    .where('tokens.deleted_at', 'is', null),
);

export async function findTokenByHash(db: Executor, tokenHash: string): Promise<TokenRow | undefined> {
  return db.selectFrom('tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
}

export async function updateToken(db: Executor, tokenHash: string, patch: Updateable<TokensTable>): Promise<void> {
  await db.updateTable('tokens').set(patch).where('token_hash', '=', tokenHash).execute();
}

export async function removeToken(db: Executor, tokenHash: string): Promise<void> {
  await db.deleteFrom('tokens').where('token_hash', '=', tokenHash).execute();
}

/** Deletes a token: its ciphertexts are erased at once. */
export async function deleteToken(db: Executor, merchantId: string, tokenHash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('tokens')
    .set({ deleted_at: now, card_ct: null, cvc_ct: null })
    .where('token_hash', '=', tokenHash)
    .where('merchant_id', '=', merchantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}

/**
 * Expired temporary tokens lose their card data at once (their row stays a day so a late use can be
 * told `token_expired`), and rows past that grace, or deleted, go. Returns what it did.
 */
export async function purgeExpiredTokens(db: Executor, now: number, graceMs: number): Promise<{ erased: number; removed: number }> {
  const erased = await db
    .updateTable('tokens')
    .set({ card_ct: null, cvc_ct: null })
    .where('expires_at', '<=', now)
    .where('card_ct', 'is not', null)
    .executeTakeFirst();
  const removed = await db
    .deleteFrom('tokens')
    .where((eb) =>
      eb.or([eb('expires_at', '<=', now - graceMs), eb.and([eb('deleted_at', 'is not', null), eb('deleted_at', '<=', now - graceMs)])]),
    )
    .executeTakeFirst();
  return { erased: Number(erased.numUpdatedRows), removed: Number(removed.numDeletedRows) };
}

/**
 * Uses a temporary token once: marks it used and erases its CVC, only if it is unused and live.
 * Returns false when another payment used it first (or it expired).
 */
export async function useTemporaryToken(db: Executor, tokenHash: string, now: number): Promise<boolean> {
  const result = await db
    .updateTable('tokens')
    .set({ used_at: now, cvc_ct: null })
    .where('token_hash', '=', tokenHash)
    .where('used_at', 'is', null)
    .where('deleted_at', 'is', null)
    .where('expires_at', '>', now)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) > 0;
}
