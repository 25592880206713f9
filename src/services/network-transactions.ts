import { randomUUID } from 'node:crypto';
import { TesseraError } from '../domain/errors.ts';
import { TspRateLimitedError, TspUnavailableError, type TokenServiceProvider } from '../domain/network.ts';
import type { Db } from '../storage/database.ts';
import { findMerchant } from '../storage/repos/merchants.ts';
import { findNetworkToken, insertNetworkTransaction } from '../storage/repos/network-tokens.ts';
import type { MerchantEncrypter } from '../vault/jwe.ts';
import type { MerchantJwks } from './merchants.ts';
import type { AuditService } from './audit.ts';

export interface NetworkTransactionServiceDeps {
  /** Records every access to card data (`docs/security.md`). */
  audit: AuditService;
  db: Db;
  tsp: TokenServiceProvider;
  encrypter: MerchantEncrypter;
  now: () => number;
}

/** `POST /cof/v1/transactions` answer: the credentials travel only inside `encryptedData`. */
export interface TransactionCredentials {
  transactionId: string;
  /** JWE (RSA-OAEP-256 + A256GCM) to the merchant's registered key of `{tokenPan, tokenExpiryDate, cryptogram}`. */
  encryptedData: string;
  eci: string;
  cryptogramExpiryDate: string;
}

export function createNetworkTransactionService(deps: NetworkTransactionServiceDeps) {
  const k = deps.db.kysely;
  return {
    /** One set of payment credentials (token PAN, expiry, single-use cryptogram) for an active token. */
    async create(merchantId: string, input: { tokenId: string; transactionType: 'SINGLE' }): Promise<TransactionCredentials> {
      const token = await findNetworkToken(k, merchantId, input.tokenId);
      if (!token) throw new TesseraError('token_not_found', 'No such network token.', 'tokenId');
      if (token.status !== 'ACTIVE') throw new TesseraError('token_inactive', `The token is ${token.status.toLowerCase()}: no credentials can be issued.`, 'tokenId');
      const merchant = await findMerchant(k, merchantId);
      if (!merchant?.jwks) {
        throw new TesseraError('encryption_key_required', 'Register your RSA public key first: PATCH /cof/v1/merchants/:merchantId {jwks}.', 'jwks');
      }
      await deps.audit.record({ tenantId: merchantId, operation: 'network_transaction.create', reason: 'payment credentials (token PAN and cryptogram) for one transaction', subject: `network_token:${token.id}` });
      let result;
      try {
        result = await deps.tsp.createCryptogram({ merchantId, tokenRef: token.id, transactionType: input.transactionType });
      } catch (err) {
        if (err instanceof TspRateLimitedError) throw new TesseraError('rate_limited', 'The card network is rate limiting requests. Retry later.', undefined, err.retryAfterS);
        if (err instanceof TspUnavailableError) throw new TesseraError('tsp_unavailable', 'The card network did not answer in time. Retry later.', undefined, 1);
        throw err;
      }
      if (!result.ok) {
        if (result.reason === 'not_found') throw new TesseraError('token_not_found', 'No such network token.', 'tokenId');
        throw new TesseraError('token_inactive', result.message, 'tokenId');
      }
      const c = result.credentials;
      const encryptedData = await deps.encrypter.encrypt(JSON.parse(merchant.jwks) as MerchantJwks, {
        tokenPan: c.tokenPan,
        tokenExpiryDate: c.tokenExpiryDate,
        cryptogram: c.cryptogram,
      });
      const id = randomUUID();
      await insertNetworkTransaction(k, {
        id,
        merchant_id: merchantId,
        token_id: token.id,
        transaction_type: input.transactionType,
        eci: c.eci,
        cryptogram_expires_at: c.cryptogramExpiresAt,
        created_at: deps.now(),
      });
      return { transactionId: id, encryptedData, eci: c.eci, cryptogramExpiryDate: new Date(c.cryptogramExpiresAt).toISOString() };
    },
  };
}

export type NetworkTransactionService = ReturnType<typeof createNetworkTransactionService>;
