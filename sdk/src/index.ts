/**
 * @tessera/sdk: a typed client for Tessera's three faces. Types come from the server's OpenAPI
 * document (`src/generated/openapi.ts`, generated from the route schemas).
 */
export { MerchantClient, jwtExpiry, type MerchantClientOptions, type PostOptions } from './merchant.ts';
export {
  NetworkTokenClient,
  decryptCredentials,
  type BatchRecord,
  type CardData,
  type CofCallOptions,
  type NetworkTokenClientOptions,
  type TokenRequest,
  type TransactionCredentials,
  type VaultTokenData,
} from './network-tokens.ts';
export {
  IssuerClient,
  JWT_BEARER,
  decryptIssuerCredentials,
  type BatchFileInput,
  type BatchFileRecordInput,
  type IssuerCardData,
  type IssuerClientOptions,
} from './issuer.ts';
export { verifyNotification, verifyWebhook, type HeaderBag, type Verified, type VerifyOptions } from './webhooks.ts';
export { TesseraApiError, TesseraError, TesseraNetworkError, TesseraSignatureError, type Face } from './errors.ts';
export { canonicalize, decryptJwe, type Key, type SigningKey } from './crypto.ts';
export type { ClientOptions } from './transport.ts';
export type * from './types.ts';
