import { assertNoPan, validateCard, validateCvc } from '../domain/card.ts';
import { TesseraError } from '../domain/errors.ts';
import { newObjectId } from '../domain/tokens.ts';
import type { Db } from '../storage/database.ts';
import {
  deleteCard,
  findCard,
  insertCardOrFindExisting,
  listCustomerCards,
  setCardCvc,
  type CardRow,
} from '../storage/repos/cards.ts';
import { findCustomer, insertCustomer, type CustomerRow } from '../storage/repos/customers.ts';
import type { Vault } from '../vault/vault.ts';

export interface CustomerServiceDeps {
  db: Db;
  vault: Vault;
  now: () => number;
  /** How long a CVC given with a saved card waits for the tokenization that uses it. */
  pendingCvcMs: number;
}

export interface NewCustomer {
  first_name: string;
  last_name: string;
  email?: string | undefined;
  phone?: string | undefined;
}

export interface NewCard {
  number?: unknown;
  name?: unknown;
  exp_month?: unknown;
  exp_year?: unknown;
  cvc?: unknown;
}

export const cardAad = (cardId: string) => `card:${cardId}`;
export const cardCvcAad = (cardId: string) => `card-cvc:${cardId}`;

export function createCustomerService(deps: CustomerServiceDeps) {
  const k = deps.db.kysely;

  async function ownCustomer(merchantId: string, customerId: string): Promise<CustomerRow> {
    const customer = await findCustomer(k, merchantId, customerId);
    if (!customer) throw new TesseraError('customer_not_found', 'No such customer.', 'id');
    return customer;
  }

  return {
    async create(merchantId: string, input: NewCustomer): Promise<CustomerRow> {
      for (const field of ['first_name', 'last_name', 'email', 'phone'] as const) assertNoPan(input[field], field);
      const now = deps.now();
      const row: CustomerRow = {
        id: newObjectId(now),
        merchant_id: merchantId,
        first_name: input.first_name.trim(),
        last_name: input.last_name.trim(),
        email: input.email ?? null,
        phone: input.phone ?? null,
        created_at: now,
      };
      await insertCustomer(k, row);
      return row;
    },

    get: ownCustomer,

    /**
     * Saves a card for a customer. The same card (number and expiry) saved again returns the
     * existing one. A CVC given here waits, encrypted, for the tokenization that follows.
     */
    async addCard(merchantId: string, customerId: string, input: NewCard): Promise<{ card: CardRow; created: boolean }> {
      await ownCustomer(merchantId, customerId);
      const now = deps.now();
      const { card, info } = validateCard(input, new Date(now));
      const cvc = input.cvc === undefined || input.cvc === null ? undefined : validateCvc(input.cvc, info);
      const id = newObjectId(now);
      const prints = await deps.vault.fingerprints(merchantId, card);
      const row: CardRow = {
        id,
        merchant_id: merchantId,
        customer_id: customerId,
        fingerprint: prints.pan,
        fingerprint_exp: prints.panExp,
        brand: info.brand,
        last4: card.pan.slice(-4),
        exp_month: card.expMonth,
        exp_year: card.expYear,
        card_ct: await deps.vault.encryptCard(merchantId, card, cardAad(id)),
        cvc_ct: null,
        cvc_expires_at: null,
        created_at: now,
        deleted_at: null,
      };
      const saved = await insertCardOrFindExisting(k, row);
      if (cvc !== undefined) {
        const cvcCt = await deps.vault.encrypt(merchantId, cvc, cardCvcAad(saved.card.id));
        await setCardCvc(k, saved.card.id, cvcCt, now + deps.pendingCvcMs);
      }
      return saved;
    },

    async listCards(merchantId: string, customerId: string): Promise<CardRow[]> {
      await ownCustomer(merchantId, customerId);
      return listCustomerCards(k, merchantId, customerId);
    },

    async deleteCard(merchantId: string, customerId: string, cardId: string): Promise<void> {
      await ownCustomer(merchantId, customerId);
      const deleted = await deleteCard(k, merchantId, customerId, cardId, deps.now());
      if (!deleted) throw new TesseraError('card_not_found', 'No such card.', 'card_id');
    },

    /** A merchant's saved card, for tokenization. */
    async findCard(merchantId: string, cardId: string): Promise<CardRow> {
      const card = await findCard(k, merchantId, cardId);
      if (!card) throw new TesseraError('card_not_found', 'No such card.', 'id');
      return card;
    },
  };
}

export type CustomerService = ReturnType<typeof createCustomerService>;
