import { randomPooled } from './random.ts';
import { TesseraError } from './errors.ts';

/** A vault token's kind: `temporary` (single payment, 15 min) or `permanent` (validated card on file). */
export type TokenType = 'temporary' | 'permanent';

/** Validation hold state of a permanent token: held → released, or failed if the release could not finish. */
export type ValidationStatus = 'pending' | 'held' | 'released' | 'failed';

/** `ca_` + 17 lowercase hex characters, the Ecart Pay temporary token format. */
export const TEMPORARY_TOKEN = /^ca_[0-9a-f]{17}$/;
/** 24 lowercase hex characters, the Ecart Pay permanent token format. */
export const PERMANENT_TOKEN = /^[0-9a-f]{24}$/;

export function newTemporaryToken(): string {
  return 'ca_' + randomPooled(9).toString('hex').slice(0, 17);
}

export function newPermanentToken(): string {
  return randomPooled(12).toString('hex');
}

/** Object ids in the Ecart Pay style: 24 lowercase hex, the first 8 a timestamp in seconds. */
export function newObjectId(now = Date.now()): string {
  return Math.floor(now / 1000).toString(16).padStart(8, '0').slice(-8) + randomPooled(8).toString('hex');
}

export function tokenTypeOf(token: string): TokenType | undefined {
  if (TEMPORARY_TOKEN.test(token)) return 'temporary';
  if (PERMANENT_TOKEN.test(token)) return 'permanent';
  return undefined;
}

/** Installment plans a token can carry. */
export const INSTALLMENT_PLANS = [3, 6, 9, 12, 18] as const;

export interface InstallmentSettings {
  installments: number | null;
  fixedInstallments: boolean | null;
}

export function validateInstallments(installments: unknown, fixed: unknown): InstallmentSettings {
  let plan: number | null = null;
  if (installments !== undefined && installments !== null) {
    if (typeof installments !== 'number' || !(INSTALLMENT_PLANS as readonly number[]).includes(installments)) {
      throw new TesseraError('invalid_installments', 'installments must be one of 3, 6, 9, 12 or 18.', 'installments');
    }
    plan = installments;
  }
  let fixedInstallments: boolean | null = null;
  if (fixed !== undefined && fixed !== null) {
    if (typeof fixed !== 'boolean') throw new TesseraError('invalid_field', 'fixed_installments must be a boolean.', 'fixed_installments');
    fixedInstallments = fixed;
  }
  return { installments: plan, fixedInstallments };
}
