import { TesseraError } from '../domain/errors.ts';
import { assertNoPan } from '../domain/card.ts';
import { issuerTenant, parseIssuerCardPayload, validatePersonalInformation, type PersonalInformation } from '../domain/issuer.ts';
import { networkOf } from '../domain/cof-payload.ts';
import type { Card } from '../domain/card.ts';
import type { Db } from '../storage/database.ts';
import { findCard, findConsumer, upsertCard, upsertConsumer, type IssuerCardRow, type IssuerConsumerRow } from '../storage/repos/issuer-cards.ts';
import type { ServiceKeyRing, EcPublicJwk } from '../vault/jwe.ts';
import type { Vault } from '../vault/vault.ts';
import type { AuditService } from './audit.ts';

export interface IssuerCardServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  vault: Vault;
  /** Tessera's EC P-256 keys (`GET /banking/v1/keys`). */
  keys: ServiceKeyRing<EcPublicJwk>;
  now: () => number;
}

/** A card as the issuer face shows it: never the PAN. */
export interface IssuerCardView {
  cardId: string;
  consumerId: string;
  network: string;
  cardLastDigits: string;
  cardExpiryDate: string;
  clickToPayStatus: 'ENROLLED' | 'NOT_ENROLLED';
}

export const issuerCardAad = (issuerId: string, cardId: string) => `issuer-card:${issuerId}:${cardId}`;
export const consumerAad = (issuerId: string, consumerId: string) => `issuer-consumer:${issuerId}:${consumerId}`;

export function cardView(row: IssuerCardRow): IssuerCardView {
  return {
    cardId: row.id,
    consumerId: row.consumer_id,
    network: row.network,
    cardLastDigits: row.last4,
    cardExpiryDate: row.expiry,
    clickToPayStatus: row.c2p_status === 'ENROLLED' ? 'ENROLLED' : 'NOT_ENROLLED',
  };
}

export function createIssuerCardService(deps: IssuerCardServiceDeps) {
  const k = deps.db.kysely;

  const service = {
    /** Validates and encrypts a consumer: nothing is written (batch files write chunks in bulk). */
    async prepareConsumer(issuerId: string, consumerId: string, personal: unknown, param = 'personalInformation'): Promise<IssuerConsumerRow> {
      // Client-chosen ids are stored and echoed as they are: never a card number.
      assertNoPan(consumerId, 'consumerId');
      const p: PersonalInformation = validatePersonalInformation(personal, param);
      const now = deps.now();
      return {
        issuer_id: issuerId,
        id: consumerId,
        personal_ct: await deps.vault.encrypt(issuerTenant(issuerId), JSON.stringify(p), consumerAad(issuerId, consumerId)),
        has_email: p.email ? 1 : 0,
        has_phone: p.phone ? 1 : 0,
        c2p_profile_at: null,
        created_at: now,
        updated_at: now,
      };
    },

    /**
     * Decrypts (JWE to `GET /banking/v1/keys`), validates and vault-encrypts a card: nothing is
     * written. `param` names the field at fault in errors.
     */
    async prepareCard(issuerId: string, cardId: string, consumerId: string, encryptedData: string, param = 'encryptedData', decrypted?: Promise<Uint8Array>): Promise<{ row: IssuerCardRow; card: Card }> {
      assertNoPan(cardId, 'cardId');
      // `decrypted`: the caller started `decryptPayload(encryptedData, param)` already (a batch chunk's JWEs go out together).
      const card = parseIssuerCardPayload(await (decrypted ?? deps.keys.decrypt(encryptedData, param)), new Date(deps.now()), param);
      const network = networkOf(card.pan, `${param}.pan`);
      const tenant = issuerTenant(issuerId);
      const now = deps.now();
      const fp = await deps.vault.fingerprints(tenant, card);
      return {
        card,
        row: {
          issuer_id: issuerId,
          id: cardId,
          consumer_id: consumerId,
          card_ct: await deps.vault.encryptCard(tenant, card, issuerCardAad(issuerId, cardId)),
          fingerprint: fp.pan,
          network,
          bin: card.pan.slice(0, 6),
          last4: card.pan.slice(-4),
          expiry: card.expMonth + card.expYear.slice(-2),
          c2p_status: null,
          created_at: now,
          updated_at: now,
        },
      };
    },

    /** Decrypts a card's JWE (to `GET /banking/v1/keys`); errors name `param`. For `prepareCard`'s `decrypted`. */
    decryptPayload(encryptedData: string, param = 'encryptedData'): Promise<Uint8Array> {
      return deps.keys.decrypt(encryptedData, param);
    },

    /** `PUT …/consumers/:consumerId`: true when created. */
    async putConsumer(issuerId: string, consumerId: string, personal: unknown): Promise<{ created: boolean }> {
      const row = await service.prepareConsumer(issuerId, consumerId, personal);
      return { created: await upsertConsumer(k, row) };
    },

    /** `PUT …/cards/:cardId`: the consumer must exist. */
    async putCard(issuerId: string, cardId: string, input: { consumerId: string; encryptedData: string }): Promise<{ created: boolean; view: IssuerCardView }> {
      assertNoPan(cardId, 'cardId');
      if (!(await findConsumer(k, issuerId, input.consumerId))) throw new TesseraError('consumer_not_found', 'No such consumer: PUT it first.', 'consumerId');
      // Batch files are recorded once per chunk by the batch worker; a single card here.
      await deps.audit.record({ tenantId: issuerTenant(issuerId), operation: 'issuer_card.register', reason: 'register an issuer card', subject: `card:${cardId}` });
      const { row } = await service.prepareCard(issuerId, cardId, input.consumerId, input.encryptedData);
      const created = await upsertCard(k, row);
      return { created, view: cardView((await findCard(k, issuerId, cardId)) ?? row) };
    },

    async getCard(issuerId: string, cardId: string): Promise<IssuerCardRow> {
      const row = await findCard(k, issuerId, cardId);
      if (!row) throw new TesseraError('card_not_found', 'No such card.', 'cardId');
      return row;
    },

    /** The card's PAN, for `use` (recorded in the audit log first). */
    async decryptCard(row: IssuerCardRow, use: { operation: string; reason: string }): Promise<Card> {
      await deps.audit.record({ tenantId: issuerTenant(row.issuer_id), ...use, subject: `card:${row.id}` });
      return deps.vault.decryptCard(issuerTenant(row.issuer_id), row.card_ct, issuerCardAad(row.issuer_id, row.id));
    },

    /** The consumer's email (American Express keys tokens by it), decrypted only when needed. */
    async consumerEmail(issuerId: string, consumerId: string): Promise<string | undefined> {
      const c = await findConsumer(k, issuerId, consumerId);
      if (!c || c.has_email !== 1) return undefined;
      const p = JSON.parse(await deps.vault.decrypt(issuerTenant(issuerId), c.personal_ct, consumerAad(issuerId, consumerId))) as PersonalInformation;
      return p.email;
    },
  };
  return service;
}

export type IssuerCardService = ReturnType<typeof createIssuerCardService>;
