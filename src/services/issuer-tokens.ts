import { randomUUID } from 'node:crypto';
import type { Card } from '../domain/card.ts';
import { TesseraError, type ErrorCode } from '../domain/errors.ts';
import {
  TspRateLimitedError,
  TspUnavailableError,
  type LifecycleAction,
  type NetworkName,
  type NetworkTokenInfo,
  type NetworkTokenStatus,
  type TokenLifecycleEvent,
  type TokenServiceProvider,
} from '../domain/network.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { findIssuerToken, findIssuerTokenById, insertIssuerToken, listCardTokens, updateIssuerToken, type IssuerTokenRow } from '../storage/repos/issuer-cards.ts';
import type { IssuerEncrypter } from '../vault/issuer-jwe.ts';
import type { IssuerCardService } from './issuer-cards.ts';
import type { IssuerService } from './issuers.ts';
import type { AuditService } from './audit.ts';
import { issuerTenant } from '../domain/issuer.ts';

export interface IssuerTokenServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  tsp: TokenServiceProvider;
  issuers: IssuerService;
  cards: IssuerCardService;
  encrypter: IssuerEncrypter;
  now: () => number;
  nudge: () => void;
}

export type IssuerTokenPurpose = 'ECOM' | 'CLICK_TO_PAY';

/** A token as the issuer face shows it: never the token PAN. */
export interface IssuerTokenView {
  tokenId: string;
  tokenStatus: NetworkTokenStatus;
  tokenType: IssuerTokenPurpose;
  cardId: string;
  network: string;
  tokenLastDigits: string;
  tokenExpiryDate: string;
  par: string;
}

/** Who asks the TSP: the issuer itself for eCom tokens, its Click to Pay (SRC) profile for enrolment tokens. */
export const requestorOf = (issuerId: string, purpose: IssuerTokenPurpose) => (purpose === 'ECOM' ? `issuer:${issuerId}` : `issuer-src:${issuerId}`);

export type Digitization = { ok: true; row: IssuerTokenRow } | { ok: false; code: ErrorCode; transient: boolean; retryAfterS?: number };

export function tokenView(row: IssuerTokenRow): IssuerTokenView {
  return {
    tokenId: row.id,
    tokenStatus: row.status as NetworkTokenStatus,
    tokenType: row.purpose as IssuerTokenPurpose,
    cardId: row.card_id,
    network: row.network,
    tokenLastDigits: row.token_last4,
    tokenExpiryDate: row.token_expiry,
    par: row.par,
  };
}

function transientError(err: unknown): TesseraError | undefined {
  if (err instanceof TspRateLimitedError) return new TesseraError('rate_limited', 'The card network is rate limiting requests for this issuer. Retry later.', undefined, err.retryAfterS);
  if (err instanceof TspUnavailableError) return new TesseraError('tsp_unavailable', 'The card network did not answer in time. Retry later.', undefined, 1);
  return undefined;
}

export function createIssuerTokenService(deps: IssuerTokenServiceDeps) {
  const k = deps.db.kysely;

  async function notifyTokens(trx: Executor, issuerId: string, row: IssuerTokenRow, reason: string): Promise<boolean> {
    return deps.issuers.notify(trx, issuerId, 'tokens', 'token.updated', { tokens: [{ ...tokenView(row), reason }] });
  }

  /** Applies the TSP's state to the row and notifies the issuer, once per real change. */
  async function apply(row: IssuerTokenRow, t: NetworkTokenInfo, reason: string): Promise<IssuerTokenRow> {
    if (row.status === t.status) return row;
    const updated = { ...row, status: t.status, updated_at: deps.now() };
    let queued = false;
    await k.transaction().execute(async (trx) => {
      await updateIssuerToken(trx, row.id, { status: updated.status, updated_at: updated.updated_at });
      queued = await notifyTokens(trx, row.issuer_id, updated, reason);
    });
    if (queued) deps.nudge();
    return updated;
  }

  async function owned(issuerId: string, tokenId: string): Promise<IssuerTokenRow> {
    const row = await findIssuerToken(k, issuerId, tokenId);
    if (!row) throw new TesseraError('token_not_found', 'No such token.', 'tokenId');
    return row;
  }

  const service = {
    /**
     * Asks the TSP for a token of `card` (nothing is written: call outside a transaction, then
     * `save`). Declines and transient faults are values.
     */
    async digitize(issuerId: string, cardId: string, network: string, card: Card, purpose: IssuerTokenPurpose, email?: string): Promise<Digitization> {
      let result;
      try {
        result = await deps.tsp.requestToken({ merchantId: requestorOf(issuerId, purpose), network: network as NetworkName, card, accountId: cardId, email });
      } catch (err) {
        const t = transientError(err);
        if (!t) throw err;
        return { ok: false, code: t.code, transient: true, retryAfterS: t.retryAfterS };
      }
      if (!result.ok) return { ok: false, code: result.decline, transient: false };
      const tk = result.token;
      const now = deps.now();
      return {
        ok: true,
        row: {
          id: tk.tokenRef,
          issuer_id: issuerId,
          card_id: cardId,
          purpose,
          network: tk.network,
          status: tk.status,
          token_last4: tk.tokenLastDigits,
          token_expiry: tk.tokenExpiryDate,
          par: tk.par,
          created_at: now,
          updated_at: now,
        },
      };
    },

    /** Keeps a digitized token (a token the TSP handed back again is kept once). */
    save: (trx: Executor, row: IssuerTokenRow) => insertIssuerToken(trx, row),

    /** `POST …/cards/:cardId/tokens`: an eCom token through the TSP; the creation is notified. */
    async create(issuerId: string, cardId: string): Promise<IssuerTokenView> {
      const cardRow = await deps.cards.getCard(issuerId, cardId);
      const card = await deps.cards.decryptCard(cardRow, { operation: 'issuer_token.create', reason: 'eCom enablement: a network token for an issuer card' });
      const email = cardRow.network === 'AMEX' ? await deps.cards.consumerEmail(issuerId, cardRow.consumer_id) : undefined;
      const d = await service.digitize(issuerId, cardId, cardRow.network, card, 'ECOM', email);
      if (!d.ok) {
        if (d.transient) throw new TesseraError(d.code, d.code === 'rate_limited' ? 'The card network is rate limiting requests. Retry later.' : 'The card network did not answer in time. Retry later.', undefined, d.retryAfterS);
        throw new TesseraError(d.code, 'The issuer declined the token request.', 'cardId');
      }
      let queued = false;
      await k.transaction().execute(async (trx) => {
        if (await insertIssuerToken(trx, d.row)) queued = await notifyTokens(trx, issuerId, d.row, 'TOKEN_CREATED');
      });
      if (queued) deps.nudge();
      return tokenView((await findIssuerToken(k, issuerId, d.row.id)) ?? d.row);
    },

    async list(issuerId: string, cardId: string): Promise<{ tokens: IssuerTokenView[] }> {
      await deps.cards.getCard(issuerId, cardId);
      return { tokens: (await listCardTokens(k, issuerId, cardId)).map(tokenView) };
    },

    async get(issuerId: string, tokenId: string): Promise<IssuerTokenView> {
      return tokenView(await owned(issuerId, tokenId));
    },

    /** Suspend, resume or delete at the TSP, then here; every change is notified. */
    async change(issuerId: string, tokenId: string, action: LifecycleAction): Promise<IssuerTokenView> {
      const row = await owned(issuerId, tokenId);
      let result;
      try {
        result = await deps.tsp.changeState(requestorOf(issuerId, row.purpose as IssuerTokenPurpose), tokenId, action);
      } catch (err) {
        throw transientError(err) ?? err;
      }
      if (!result.ok) {
        if (result.reason === 'not_found') throw new TesseraError('token_not_found', 'No such token.', 'tokenId');
        throw new TesseraError('token_inactive', result.message, 'tokenId');
      }
      const reason = { suspend: 'ISSUER_SUSPENDED', resume: 'ISSUER_RESUMED', delete: 'ISSUER_DELETED' }[action];
      return tokenView(await apply(row, result.token, reason));
    },

    /** CNP credentials for one payment, as a JWE (ECDH-ES + A256GCM) to the issuer's `enc` key. */
    async transaction(issuerId: string, tokenId: string): Promise<{ transactionId: string; encryptedData: string; eci: string; cryptogramExpiryDate: string }> {
      const row = await owned(issuerId, tokenId);
      if (row.status !== 'ACTIVE') throw new TesseraError('token_inactive', `The token is ${row.status.toLowerCase()}: no credentials can be issued.`, 'tokenId');
      const key = await deps.issuers.encryptionKey(issuerId);
      if (!key) throw new TesseraError('encryption_key_required', 'Register an EC P-256 encryption key (use "enc") first: tessera issuers keys add.', 'jwk');
      await deps.audit.record({ tenantId: issuerTenant(issuerId), operation: 'issuer_transaction.create', reason: 'payment credentials (token PAN and cryptogram) for one transaction', subject: `token:${tokenId}` });
      let result;
      try {
        result = await deps.tsp.createCryptogram({ merchantId: requestorOf(issuerId, row.purpose as IssuerTokenPurpose), tokenRef: tokenId, transactionType: 'SINGLE' });
      } catch (err) {
        throw transientError(err) ?? err;
      }
      if (!result.ok) throw new TesseraError(result.reason === 'not_found' ? 'token_not_found' : 'token_inactive', result.message, 'tokenId');
      const c = result.credentials;
      const encryptedData = await deps.encrypter.encrypt(key, { tokenPan: c.tokenPan, tokenExpiryDate: c.tokenExpiryDate, cryptogram: c.cryptogram });
      return { transactionId: randomUUID(), encryptedData, eci: c.eci, cryptogramExpiryDate: new Date(c.cryptogramExpiresAt).toISOString() };
    },

    /** Hears network-side changes of issuer tokens (idempotent). Other requestors' events are ignored. */
    async onTspEvent(event: TokenLifecycleEvent): Promise<void> {
      if (!event.merchantId.startsWith('issuer')) return;
      const row = await findIssuerTokenById(k, event.token.tokenRef);
      if (row && requestorOf(row.issuer_id, row.purpose as IssuerTokenPurpose) === event.merchantId) await apply(row, event.token, event.reason);
    },
  };
  return service;
}

export type IssuerTokenService = ReturnType<typeof createIssuerTokenService>;
