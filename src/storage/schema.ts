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

export interface Database {
  merchants: MerchantsTable;
  data_keys: DataKeysTable;
  customers: CustomersTable;
  cards: CardsTable;
  tokens: TokensTable;
  jobs: JobsTable;
  sandbox_authorizations: SandboxAuthorizationsTable;
}
