import type { Card } from './card.ts';
import type { DeclineCode } from './errors.ts';

/**
 * The acquirer a payment or a validation hold goes through. The sandbox implements it; a real
 * acquirer connector would implement the same. All operations are idempotent: `reference` names an
 * authorization once, and capturing or voiding twice has the effect of doing it once.
 */
export interface Acquirer {
  authorize(request: AuthorizeRequest): Promise<AuthorizeResult>;
  /** Captures `amount` (≤ the authorized amount) of an approved authorization. */
  capture(authorizationId: string, amount: number): Promise<void>;
  /** Cancels what is left of an authorization (and reverses a capture not yet settled). */
  void(authorizationId: string): Promise<void>;
  /** The authorization made under `reference`, if any: reconciles an operation a crash interrupted. */
  findByReference(merchantId: string, reference: string): Promise<AuthorizationRecord | undefined>;
}

export interface AuthorizeRequest {
  merchantId: string;
  /** The caller's idempotency reference for this authorization. */
  reference: string;
  card: Card;
  cvc?: string | undefined;
  /** Minor units. */
  amount: number;
  currency: string;
}

export type AuthorizeResult =
  | { status: 'approved'; authorizationId: string }
  | { status: 'declined'; reason: DeclineCode; authorizationId: string };

export interface AuthorizationRecord {
  id: string;
  status: 'authorized' | 'captured' | 'voided' | 'declined';
  amount: number;
  capturedAmount: number;
  currency: string;
  declineReason: string | null;
}
