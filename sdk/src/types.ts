import type { Operations } from './generated/openapi.ts';

/**
 * Request and response types, derived from the generated `Operations` (itself generated from the
 * server's route schemas): nothing here restates a field.
 */
export type { Operations } from './generated/openapi.ts';
export type OperationKey = keyof Operations;

type Responses<K extends OperationKey> = Operations[K]['responses'];
type SuccessStatus = 200 | 201 | 202 | 204;

/** The success body of an operation (the union over its 2xx answers). */
export type Ok<K extends OperationKey> = Responses<K>[Extract<keyof Responses<K>, SuccessStatus>];
/** The request body of an operation (`never` when it takes none). */
export type Body<K extends OperationKey> = 'body' extends keyof Operations[K] ? Operations[K][Extract<'body', keyof Operations[K]>] : never;
/** The query parameters of an operation. */
export type Query<K extends OperationKey> = 'query' extends keyof Operations[K] ? Operations[K][Extract<'query', keyof Operations[K]>] : never;
/** The path parameters of an operation. */
export type PathParams<K extends OperationKey> = 'path' extends keyof Operations[K] ? Operations[K][Extract<'path', keyof Operations[K]>] : never;

// Merchant face (`/api`).
export type CustomerInput = Body<'POST /api/customers'>;
export type Customer = Ok<'GET /api/customers/{id}'>;
export type CardInput = Body<'POST /api/customers/{id}/cards'>;
export type SavedCard = Ok<'POST /api/customers/{id}/cards'>;
export type TokenInput = Body<'POST /api/tokens'>;
export type TokenMetadata = Ok<'GET /api/tokens/{token}'>;
export type Deleted = Ok<'DELETE /api/tokens/{token}'>;
export type OrderInput = Body<'POST /api/orders'>;
export type Order = Ok<'GET /api/orders/{id}'>;
export type OrderList = Ok<'GET /api/orders'>;
export type OrderListQuery = Query<'GET /api/orders'>;
export type RefundInput = Body<'POST /api/orders/{id}/refunds'>;
export type RefundCreated = Ok<'POST /api/orders/{id}/refunds'>;
export type WebhookInput = Body<'POST /api/webhooks'>;
export type Webhook = Ok<'POST /api/webhooks'>;
export type Delivery = Ok<'POST /api/webhooks/{id}/deliveries/{deliveryId}/retry'>;
export type AuditList = Ok<'GET /api/audit'>;
export type AuditQuery = Query<'GET /api/audit'>;
export type MerchantErrorBody = Operations['POST /api/customers']['responses'][400];

// Network tokenization face (`/cof/v1`) and the sandbox network (`/sandbox/v1`).
export type TokenSource = Body<'POST /cof/v1/tokens'>['source'];
export type NetworkToken = Ok<'POST /cof/v1/tokens'>;
export type AsyncTokenResult = Ok<'GET /cof/v1/async-tokens/{requestId}'>;
export type NetworkTransaction = Ok<'POST /cof/v1/transactions'>;
export type TransactionType = Body<'POST /cof/v1/transactions'>['transactionType'];
export type MerchantSettingsInput = Body<'PATCH /cof/v1/merchants/{merchantId}'>;
export type MerchantSettings = Ok<'PATCH /cof/v1/merchants/{merchantId}'>;
export type CofJwks = Ok<'GET /cof/v1/keys'>;
export type BatchStatus = Ok<'GET /cof/v1/batches/{batchId}'>;
export type BatchResults = Ok<'GET /cof/v1/batches/{batchId}/results'>;
export type BatchResult = BatchResults['results'][number];
export type SandboxAuthorizationInput = Body<'POST /sandbox/v1/authorizations'>;
export type SandboxAuthorization = Ok<'POST /sandbox/v1/authorizations'>;
export type IssuerEventInput = Body<'POST /sandbox/v1/issuer-events'>;
export type SandboxStats = Ok<'GET /sandbox/v1/stats'>;
export type CofErrorBody = Operations['POST /cof/v1/tokens']['responses'][400];

// Issuer face (`/authz/v1`, `/banking/v1`).
export type AccessToken = Ok<'POST /authz/v1/oauth2/token'>;
export type IssuerJwks = Ok<'GET /banking/v1/keys'>;
export type PersonalInformation = Body<'PUT /banking/v1/issuers/{issuerId}/consumers/{consumerId}'>['personalInformation'];
export type IssuerCard = Ok<'PUT /banking/v1/issuers/{issuerId}/cards/{cardId}'>;
export type IssuerToken = Ok<'GET /banking/v1/issuers/{issuerId}/tokens/{tokenId}'>;
export type IssuerTokens = Ok<'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/tokens'>;
export type IssuerTransaction = Ok<'POST /banking/v1/issuers/{issuerId}/tokens/{tokenId}/transactions'>;
export type EnrolmentInput = Body<'POST /banking/v1/issuers/{issuerId}/cards/{cardId}/operations:clickToPayEnrolment'>;
export type ClickToPayOperation = Ok<'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/operations/{operationId}'>;
export type ClickToPayOperations = Ok<'GET /banking/v1/issuers/{issuerId}/cards/{cardId}/operations'>;
export type IssuerBatchStatus = Ok<'GET /banking/v1/issuers/{issuerId}/batch-files/{batchId}'>;
export type BankingErrorBody = Operations['GET /banking/v1/issuers/{issuerId}/cards/{cardId}']['responses'][400];
export type IssuerBatchOutput = Ok<'GET /banking/v1/issuers/{issuerId}/batch-files/{batchId}/output'>;
export type IssuerBatchFile = Body<'POST /banking/v1/issuers/{issuerId}/batch-files'>;
