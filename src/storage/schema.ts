/**
 * Row types of every table. Times are integers in epoch milliseconds and flags are 0/1 integers in
 * both engines, so one schema serves SQLite and PostgreSQL alike. Columns named `*_ct` hold vault
 * ciphertexts (see `src/vault/cipher.ts`); nothing else may hold card data.
 */
export interface MerchantsTable {
  id: string;
  name: string;
  public_key: string;
  /** SHA-256 (hex) of the private key: the key itself is shown once and never stored. */
  private_key_hash: string;
  /** The webhook signing secret, encrypted under the merchant's data key. */
  webhook_secret_ct: string;
  notification_url: string | null;
  status: string;
  created_at: number;
  /** The merchant's public keys (a JWKS, JSON) to which `/cof/v1` transaction credentials are encrypted. */
  jwks: string | null;
}

export interface DataKeysTable {
  tenant_id: string;
  /** `data` encrypts card data; `fingerprint` keys the HMAC fingerprints (never rotated with data). */
  purpose: string;
  version: number;
  /** The key, encrypted under the master key (KEK) named by `kek_id`. */
  wrapped_key: string;
  kek_id: string;
  status: string;
  created_at: number;
}

export interface CustomersTable {
  id: string;
  merchant_id: string;
  first_name: string;
  last_name: string;
  email: string | null;
  phone: string | null;
  created_at: number;
}

export interface CardsTable {
  id: string;
  merchant_id: string;
  customer_id: string | null;
  /** HMAC of the PAN alone, per merchant. */
  fingerprint: string;
  /** HMAC of the PAN and expiry, per merchant: the identity of "the same card". */
  fingerprint_exp: string;
  brand: string;
  last4: string;
  exp_month: string;
  exp_year: string;
  card_ct: string;
  /** A CVC kept only until the tokenization that follows saving the card, or `cvc_expires_at`. */
  cvc_ct: string | null;
  cvc_expires_at: number | null;
  created_at: number;
  deleted_at: number | null;
}

export interface TokensTable {
  /** SHA-256 (hex) of the token: the token itself is a bearer secret and is not stored. */
  token_hash: string;
  merchant_id: string;
  type: string;
  card_id: string | null;
  card_ct: string | null;
  cvc_ct: string | null;
  brand: string;
  last4: string;
  exp_month: string;
  exp_year: string;
  fingerprint: string;
  installments: number | null;
  fixed_installments: number | null;
  source: string | null;
  expires_at: number | null;
  validation_status: string | null;
  validation_reference: string | null;
  validation_amount: number | null;
  validation_currency: string | null;
  validation_error: string | null;
  validation_updated_at: number | null;
  used_at: number | null;
  created_at: number;
  deleted_at: number | null;
}

export interface JobsTable {
  id: string;
  task: string;
  payload: string;
  status: string;
  run_at: number;
  attempts: number;
  max_attempts: number;
  last_error: string | null;
  locked_by: string | null;
  locked_until: number | null;
  unique_key: string | null;
  created_at: number;
  updated_at: number;
}

export interface SandboxAuthorizationsTable {
  id: string;
  merchant_id: string;
  reference: string;
  card_fingerprint: string;
  amount: number;
  currency: string;
  captured_amount: number;
  status: string;
  decline_reason: string | null;
  created_at: number;
  updated_at: number;
}

/** Tessera's own asymmetric keys (the `/cof/v1` JWKS). The private key is sealed under a master-derived key. */
export interface ServiceKeysTable {
  kid: string;
  /** `cof-enc`: RSA-OAEP-256 keys merchants encrypt card data to. */
  purpose: string;
  /** 1, 2, …: one generation per rotation; unique per purpose so concurrent first starts create one key. */
  generation: number;
  /** `active` (published, newest first), `decrypt_only` (published until retired), `retired`. */
  status: string;
  public_jwk: string;
  private_ct: string;
  kek_id: string;
  created_at: number;
  retired_at: number | null;
  /** A decrypt-only key is retired automatically after this (the JWKS grace period); null: only by hand. */
  retire_after?: number | null;
}

/** A network token as Tessera knows it (`id` is the TSP's token reference). No token PAN is kept. */
export interface NetworkTokensTable {
  id: string;
  merchant_id: string;
  network: string;
  status: string;
  source: string;
  /** The funding card, vault-encrypted under the merchant's data key (AAD `network-token:<id>`); erased on delete. */
  card_ct: string | null;
  card_bin: string;
  card_last4: string;
  /** `MMYY`. */
  card_expiry: string;
  token_last4: string;
  token_expiry: string;
  par: string;
  /** JSON array. */
  card_art_ids: string;
  /** JSON `{name, bin}`. */
  issuer: string;
  created_at: number;
  updated_at: number;
  /** The merchant's HMAC fingerprint of the funding PAN (as `tokens.fingerprint`): a vault card finds its network token by it. */
  card_fingerprint: string | null;
}

/** An async token request (`POST /cof/v1/async-tokens`). The validated card waits in `payload_ct` until processed. */
export interface NetworkTokenRequestsTable {
  id: string;
  merchant_id: string;
  correlation_id: string;
  /** `PENDING`, `SUCCEEDED`, `FAILED`. */
  status: string;
  source: string;
  payload_ct: string | null;
  token_id: string | null;
  error_code: string | null;
  error_message: string | null;
  created_at: number;
  completed_at: number | null;
  /** The `Idempotency-Key` of the request that created it (migration 0012), null without one. */
  idempotency_key: string | null;
}

export interface NetworkTransactionsTable {
  id: string;
  merchant_id: string;
  token_id: string;
  transaction_type: string;
  eci: string;
  cryptogram_expires_at: number;
  created_at: number;
}

/** One notification to deliver to a merchant (at least once). `body` never holds card data. */
export interface DeliveriesTable {
  /** Also the `webhook-id` header: stable across retries so receivers can de-duplicate. */
  id: string;
  merchant_id: string;
  /** How it is signed: `standard-webhooks` (the `/cof/v1` notifications). */
  scheme: string;
  event_type: string;
  url: string;
  /** JSON object of extra headers (e.g. `x-correlation-id`). */
  headers: string;
  body: string;
  /** `pending`, `delivered`, `dead`. */
  status: string;
  attempts: number;
  max_attempts: number;
  next_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  created_at: number;
  completed_at: number | null;
}

export interface DeliveryAttemptsTable {
  delivery_id: string;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
  /** `delivered`, `retry`, `dead`. */
  outcome: string;
}

/** The sandbox TSP's tokens (what a card network keeps). Card and token PAN sealed under a sandbox key. */
export interface SandboxTspTokensTable {
  id: string;
  merchant_id: string;
  network: string;
  /**
   * `<par>.<identity>`, unique: the identity is an HMAC of merchant + card + accountId [+ email]
   * (Visa, Amex: one token per identity), else the token's own id (Mastercard, Discover, deleted
   * tokens). The PAR prefix makes its index the one that finds a card's tokens (migration 0013).
   * Null only in rows of before that migration.
   */
  requestor_key: string | null;
  pan_fingerprint: string;
  card_ct: string;
  /** The sealed token number of tokens numbered before migration 0014; '' since (the lookup key gives it) and once deleted. */
  token_pan_ct: string;
  /**
   * The token number's lookup key, unique: `#<token BIN><serial>` for tokens numbered from a serial
   * (`sandbox/token-numbers.ts`, migration 0014), an HMAC of the token number for older ones.
   */
  token_pan_fingerprint: string;
  token_last4: string;
  token_expiry: string;
  card_expiry: string;
  par: string;
  bin: string;
  status: string;
  /** `merchant` or `issuer`: who suspended it (only the issuer may lift an issuer suspension). */
  suspended_by: string | null;
  created_at: number;
  updated_at: number;
  /** The requestor's idempotency id (batch records): a repeated request gets the token it already got. */
  request_id?: string | null;
}

export interface SandboxCryptogramsTable {
  id: string;
  token_id: string;
  merchant_id: string;
  /** HMAC of the cryptogram: single use is enforced by setting `used_at` once. */
  cryptogram_hash: string;
  expires_at: number;
  used_at: number | null;
  created_at: number;
}

export interface Database {
  merchants: MerchantsTable;
  data_keys: DataKeysTable;
  customers: CustomersTable;
  cards: CardsTable;
  tokens: TokensTable;
  jobs: JobsTable;
  sandbox_authorizations: SandboxAuthorizationsTable;
  service_keys: ServiceKeysTable;
  network_tokens: NetworkTokensTable;
  network_token_requests: NetworkTokenRequestsTable;
  network_transactions: NetworkTransactionsTable;
  deliveries: DeliveriesTable;
  delivery_attempts: DeliveryAttemptsTable;
  sandbox_tsp_tokens: SandboxTspTokensTable;
  sandbox_cryptograms: SandboxCryptogramsTable;
  orders: OrdersTable;
  order_refunds: OrderRefundsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  idempotency_keys: IdempotencyKeysTable;
  network_token_upgrades: NetworkTokenUpgradesTable;
  sandbox_refunds: SandboxRefundsTable;
  batches: BatchesTable;
  batch_records: BatchRecordsTable;
  batch_bins: BatchBinsTable;
  batch_issuers: BatchIssuersTable;
  sandbox_issuer_buckets: SandboxIssuerBucketsTable;
  sandbox_counters: SandboxCountersTable;
  sandbox_issuer_seconds: SandboxIssuerSecondsTable;
  issuers: IssuersTable;
  issuer_keys: IssuerKeysTable;
  issuer_assertions: IssuerAssertionsTable;
  issuer_consumers: IssuerConsumersTable;
  issuer_cards: IssuerCardsTable;
  issuer_tokens: IssuerTokensTable;
  issuer_operations: IssuerOperationsTable;
  issuer_batches: IssuerBatchesTable;
  issuer_batch_records: IssuerBatchRecordsTable;
  audit_log: AuditLogTable;
  audit_head: AuditHeadTable;
  operators: OperatorsTable;
  operator_sessions: OperatorSessionsTable;
  merchant_publishable_keys: MerchantPublishableKeysTable;
  key_rotations: KeyRotationsTable;
}

/** A merchant's publishable key for hosted card fields (public by design) and the browser origins allowed to use it. */
export interface MerchantPublishableKeysTable {
  merchant_id: string;
  /** `pk_test_…` (sandbox) or `pk_live_…` (production). */
  publishable_key: string;
  /** JSON array of origins (`scheme://host[:port]`). */
  allowed_origins: string;
  updated_at: number;
}

/** A data rotation (`tessera keys rotate --data`): its progress, so a crashed worker resumes where it stopped. */
export interface KeyRotationsTable {
  id: string;
  /** `data`. */
  kind: string;
  /** `running`, `done`. */
  status: string;
  /** Ciphertexts that existed when it started. */
  total: number;
  /** Ciphertexts examined by the current pass. */
  done: number;
  /** Ciphertexts re-encrypted so far (all passes). */
  rewritten: number;
  /** JSON: which column and key the pass reached, pass number, tenants with unreadable rows. */
  state: string;
  started_at: number;
  updated_at: number;
  finished_at: number | null;
}

/** An order (`/api/orders`). Amounts are integers in minor units; `items` is JSON (prices in minor units). */
export interface OrdersTable {
  id: string;
  merchant_id: string;
  /** Human-facing order number, unique per merchant. */
  number: string;
  customer_id: string | null;
  currency: string;
  /** `created`, `paid`, `refunded`, `partially_refunded`. */
  status: string;
  items: string;
  subtotal: number;
  total: number;
  notify_url: string | null;
  redirect_url: string | null;
  installments: number | null;
  fixed_installments: number | null;
  /** The kind of vault token it was paid with (`temporary`, `permanent`), null without a token. */
  token_type: string | null;
  brand: string | null;
  last4: string | null;
  /** `pending` (at the acquirer), `captured`, `declined`, `failed`; null when no payment was attempted. */
  payment_status: string | null;
  /** The acquirer idempotency reference of the payment. */
  payment_reference: string | null;
  authorization_id: string | null;
  /** `network_token` or `pan`. */
  credential: string | null;
  decline_code: string | null;
  captured_amount: number;
  refunded_amount: number;
  created_at: number;
  updated_at: number;
  paid_at: number | null;
  /** JSON `{installments: number[], fixed_installments: boolean}`: plans the hosted payment page offers; null = none. */
  installment_options: string | null;
  /** The `Idempotency-Key` of the request that created it (migration 0012), null without one. */
  idempotency_key: string | null;
}

export interface OrderRefundsTable {
  id: string;
  order_id: string;
  merchant_id: string;
  amount: number;
  /** `pending` (reserved on the order, not yet at the acquirer) or `succeeded`. */
  status: string;
  created_at: number;
  completed_at: number | null;
}

/** A merchant's webhook subscription. `events` is a JSON array of event names. */
export interface WebhooksTable {
  id: string;
  merchant_id: string;
  url: string;
  events: string;
  created_at: number;
  deleted_at: number | null;
}

/** Which delivery (see `deliveries`) went to which webhook subscription. */
export interface WebhookDeliveriesTable {
  delivery_id: string;
  webhook_id: string;
  merchant_id: string;
  created_at: number;
}

/** One `Idempotency-Key` of one tenant: the request's HMAC and, once answered, the answer (vault-encrypted). */
export interface IdempotencyKeysTable {
  merchant_id: string;
  key: string;
  request_hash: string;
  /** `in_progress` or `done`. */
  status: string;
  response_status: number | null;
  response_type: string | null;
  response_ct: string | null;
  /** An `in_progress` key whose request died is taken over after this. */
  locked_until: number;
  created_at: number;
  expires_at: number;
}

/** The background request of a network token for a vault card (by the merchant's PAN fingerprint). */
export interface NetworkTokenUpgradesTable {
  merchant_id: string;
  fingerprint: string;
  /** `pending`, `issued`, `ineligible` (the network or issuer said no: not asked again). */
  status: string;
  network_token_id: string | null;
  reason: string | null;
  updated_at: number;
}

/** Refunds the sandbox acquirer made (idempotent by `reference`). */
export interface SandboxRefundsTable {
  id: string;
  authorization_id: string;
  reference: string;
  amount: number;
  created_at: number;
}

/** A bulk tokenization batch (`/cof/v1/batches`): the merchant names it (`batch_id`), Tessera keys it by `id`. */
export interface BatchesTable {
  id: string;
  merchant_id: string;
  batch_id: string;
  /** The first chunk's `x-correlation-id`: sent with every notification of the batch. */
  correlation_id: string;
  /** `RECEIVING` (chunks may follow), `PROCESSING` (closed), `COMPLETED` (every record has its result). */
  status: string;
  chunks: number;
  total_records: number;
  succeeded: number;
  failed: number;
  started_at: number;
  closed_at: number | null;
  completed_at: number | null;
}

/** One record of a batch. Its card waits sealed in `card_ct` (AAD `batch-record:<id>`) and is erased with its result. */
export interface BatchRecordsTable {
  /** `<batch id>.<seq>`: also the request id the TSP de-duplicates on, so a retry after a crash gets the same answer. */
  id: string;
  batch_pk: string;
  /** Position in the batch, from 0: results are read in this order. */
  seq: number;
  merchant_id: string;
  row_id: string;
  /** The issuer (first six digits); empty for records refused before any network call. */
  bin: string;
  /** Start-time fair queuing position within the issuer's queue: batches take turns. */
  vtime: number;
  /** `PENDING`, `INFLIGHT` (claimed until `lease_until`), `SUCCEEDED`, `FAILED`. */
  status: string;
  card_ct: string | null;
  attempts: number;
  not_before: number;
  lease_until: number | null;
  claimed_by: string | null;
  token_id: string | null;
  token_status: string | null;
  card_last4: string | null;
  error_code: string | null;
  message: string | null;
  done_at: number | null;
}

/** Where a batch's next record for one issuer goes in that issuer's fair queue. */
export interface BatchBinsTable {
  batch_pk: string;
  bin: string;
  next_vtime: number;
}

/** Per issuer, shared by every process: queued records, the fair-queue clock and the pacing token bucket. */
export interface BatchIssuersTable {
  bin: string;
  /** Records not yet final. */
  pending: number;
  /** The highest `vtime` claimed: a new batch joins the queue here, not ahead of or behind everyone. */
  vclock: number;
  /** Learned pace in requests/s (0: none learned yet); a configured cap overrides it. */
  rate: number;
  milli_tokens: number;
  refilled_at: number;
  /** After a 429: no request before this. */
  paused_until: number;
  throttled_at: number;
}

/** The sandbox's counters (token serials per network), taken from in blocks. */
export interface SandboxCountersTable {
  name: string;
  /** The first value not yet handed out. */
  next: number;
}

/** The sandbox issuers' rate-cap buckets, shared by every process on one database. */
export interface SandboxIssuerBucketsTable {
  bin: string;
  tokens: number;
  at: number;
}

/** The sandbox issuers' traffic per one-second window (`GET /sandbox/v1/stats`). */
export interface SandboxIssuerSecondsTable {
  bin: string;
  /** Epoch seconds. */
  second: number;
  accepted: number;
  throttled: number;
}

// ---------------------------------------------------------------------------------------------
// The issuer face (`/banking/v1`). An issuer's vault tenant is `issuerTenant(id)` (`issuer:<id>`).
// ---------------------------------------------------------------------------------------------

/** A card issuer (bank) using the D1-style face. `id` is 10 alphanumerics. */
export interface IssuersTable {
  id: string;
  name: string;
  /** The notification signing secret (`whsec_…`), encrypted under the issuer's data key. */
  webhook_secret_ct: string;
  /** Base URL notifications go under (`{notify_url}/notifications/d1/v2/issuers/:issuerId/…`). */
  notify_url: string | null;
  status: string;
  /** Batch-file records processed per second at most. */
  records_per_second: number;
  created_at: number;
}

/** An issuer's public keys: `sig` (ES256: OAuth assertions, batch signatures) or `enc` (ECDH-ES: credentials to the issuer). */
export interface IssuerKeysTable {
  issuer_id: string;
  kid: string;
  use: string;
  public_jwk: string;
  /** `active` or `retired`. */
  status: string;
  created_at: number;
}

/** `jti`s of OAuth assertions already used, kept until the assertion expires. */
export interface IssuerAssertionsTable {
  issuer_id: string;
  jti: string;
  expires_at: number;
}

export interface IssuerConsumersTable {
  issuer_id: string;
  id: string;
  /** `personalInformation` (names, email, phone, address: personal data), vault-encrypted. */
  personal_ct: string;
  has_email: number;
  has_phone: number;
  /** When the consumer's Click to Pay profile was created (the first enrolment). */
  c2p_profile_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface IssuerCardsTable {
  issuer_id: string;
  id: string;
  consumer_id: string;
  /** The card (PAN, expiry), vault-encrypted (AAD `issuer-card:<issuerId>:<cardId>`). */
  card_ct: string;
  /** HMAC of the PAN under the issuer's fingerprint key. */
  fingerprint: string;
  network: string;
  bin: string;
  last4: string;
  /** `MMYY`. */
  expiry: string;
  /** `ENROLLED` once in Click to Pay; else null. */
  c2p_status: string | null;
  created_at: number;
  updated_at: number;
}

/** A network token the issuer asked for (`ECOM`) or that Click to Pay enrolment created (`CLICK_TO_PAY`). */
export interface IssuerTokensTable {
  id: string;
  issuer_id: string;
  card_id: string;
  purpose: string;
  network: string;
  status: string;
  token_last4: string;
  token_expiry: string;
  par: string;
  created_at: number;
  updated_at: number;
}

/** An asynchronous card operation (`CLICK_TO_PAY_ENROLMENT`): `PENDING`, `SUCCESSFUL`, `FAILED`. */
export interface IssuerOperationsTable {
  id: string;
  issuer_id: string;
  card_id: string;
  operation: string;
  status: string;
  reason: string | null;
  reason_code: string | null;
  error_code: string | null;
  start_time: number;
  end_time: number | null;
}

/** A batch file. `status`: `PROCESSING`, `COMPLETED`. */
export interface IssuerBatchesTable {
  issuer_id: string;
  batch_id: string;
  seq_number: number;
  operation: string;
  auto_enrolment: number;
  status: string;
  total_records: number;
  processed_records: number;
  ko_records: number;
  /** Drop-folder files: where the `…_OUT.json` answer is written. */
  out_path: string | null;
  created_at: number;
  completed_at: number | null;
}

/** One record of a batch file: the request vault-encrypted until processed, then its result (no card data). */
export interface IssuerBatchRecordsTable {
  issuer_id: string;
  batch_id: string;
  seq_number: number;
  idx: number;
  request_ct: string | null;
  /** JSON `{rowId, consumerCardRegistrationResult}` once processed. */
  result: string | null;
}

/**
 * One access to card data (never the card data itself). `hash` is HMAC-SHA256, under the key named
 * by `key_id`, of `prev_hash` and the record's fields: a chain `tessera audit verify` re-computes.
 */
export interface AuditLogTable {
  /** 1, 2, 3, …: no gaps. */
  seq: number;
  /** Who: the merchant id, or `issuer:<issuerId>`. */
  tenant_id: string;
  /** What, e.g. `order.pay`, `network_token.create`. */
  operation: string;
  /** Why, in words. */
  reason: string;
  /** Which object (an id, never a token or a card number). */
  subject: string | null;
  /** The request that caused it (for a job, the request that enqueued it), or null. */
  request_id: string | null;
  created_at: number;
  key_id: string;
  prev_hash: string;
  hash: string;
}

/** The one-row head of the audit chain (`id` = 1): the last `seq` and `hash`. */
export interface AuditHeadTable {
  id: number;
  seq: number;
  hash: string;
}

/** A dashboard operator (`tessera admin create`). Operators see every tenant, never card data. */
export interface OperatorsTable {
  id: string;
  /** Lower-cased. */
  email: string;
  /** `scrypt$N$r$p$<salt b64url>$<hash b64url>`: the password itself is never stored. */
  password_hash: string;
  /** `active` or `disabled`. */
  status: string;
  created_at: number;
}

/** A dashboard session. `id_hash` is SHA-256 (hex) of the cookie's random id: the id itself is not stored. */
export interface OperatorSessionsTable {
  id_hash: string;
  operator_id: string;
  created_at: number;
  expires_at: number;
}
