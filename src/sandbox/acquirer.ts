import { randomUUID, randomUUIDv7 } from 'node:crypto';
import type { Acquirer, AuthorizationRecord, AuthorizeRequest, AuthorizeResult } from '../domain/network.ts';
import type { Engine } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import {
  findSandboxAuthorization,
  findSandboxAuthorizationByReference,
  insertSandboxAuthorization,
  updateSandboxAuthorization,
  type SandboxAuthorizationRow,
} from '../storage/repos/sandbox-authorizations.ts';
import { findSandboxRefundByReference, insertSandboxRefund, sumSandboxRefunds } from '../storage/repos/sandbox-refunds.ts';
import { delay, roundTrip } from './latency.ts';
import { scenarioOf } from './test-cards.ts';

export interface SandboxAcquirerOptions {
  /** Fingerprints the card for the sandbox's own records (never the PAN itself). */
  fingerprint: (pan: string) => string;
  /** The engine of `db` (hot statements are built once per engine). */
  engine: Engine;
  /** Simulated network latency per call, in ms. Default none. */
  latency?: () => number;
}

/**
 * A deterministic acquirer: the card number picks the outcome (see `test-cards.ts`); state is kept
 * in `sandbox_authorizations` so holds, captures and voids can be inspected after the fact.
 */
export class SandboxAcquirer implements Acquirer {
  readonly #db: Executor;
  readonly #opts: SandboxAcquirerOptions;

  constructor(db: Executor, opts: SandboxAcquirerOptions) {
    this.#db = db;
    this.#opts = opts;
  }

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResult> {
    await delay(this.#opts.latency);
    return this.#authorize(request, false);
  }

  /**
   * The latency is split around the recording, as a round trip is: the way there, then the way
   * back. An answer lost on its way back (the caller's process died) leaves a captured record under
   * the caller's reference: the window the order reconciler covers.
   */
  async sale(request: AuthorizeRequest): Promise<AuthorizeResult> {
    return roundTrip(this.#opts.latency, () => this.#authorize(request, true));
  }

  /** One authorization per reference: the first call records it (captured at once for a sale); a retry gets what the first call got. */
  async #authorize(request: AuthorizeRequest, capture: boolean): Promise<AuthorizeResult> {
    const scenario = scenarioOf(request.card.pan);
    const reason = scenario.kind === 'decline' ? scenario.reason : scenario.kind === 'step_up' ? 'authentication_required' : null;
    const now = Date.now();
    const row: SandboxAuthorizationRow = {
      // Time-ordered (UUIDv7): a new key lands at the end of the id index, not on a random page of it.
      id: `auth_${randomUUIDv7().replaceAll('-', '')}`,
      merchant_id: request.merchantId,
      reference: request.reference,
      card_fingerprint: this.#opts.fingerprint(request.card.pan),
      amount: request.amount,
      currency: request.currency,
      captured_amount: capture && !reason ? request.amount : 0,
      status: reason ? 'declined' : capture ? 'captured' : 'authorized',
      decline_reason: reason,
      created_at: now,
      updated_at: now,
    };
    // Insert first (one statement in the usual case): the reference being taken is the rare retry.
    if (await insertSandboxAuthorization(this.#opts.engine, this.#db, row)) return resultOf(row);
    const existing = await findSandboxAuthorizationByReference(this.#db, request.merchantId, request.reference);
    if (!existing) throw new AcquirerError('the authorization of this reference vanished');
    // A sale retried over an authorization only (the earlier call was an `authorize`): capture it now.
    if (capture && existing.status === 'authorized') await this.#capture(existing.id, request.amount);
    return resultOf(existing);
  }

  async capture(authorizationId: string, amount: number): Promise<void> {
    await delay(this.#opts.latency);
    await this.#capture(authorizationId, amount);
  }

  async #capture(authorizationId: string, amount: number): Promise<void> {
    const auth = await this.#get(authorizationId);
    if (auth.status === 'captured' && auth.captured_amount === amount) return;
    if (auth.status !== 'authorized') throw new AcquirerError(`cannot capture an authorization that is ${auth.status}`);
    if (!Number.isInteger(amount) || amount <= 0 || amount > auth.amount) {
      throw new AcquirerError('capture amount must be positive and at most the authorized amount');
    }
    await updateSandboxAuthorization(this.#db, authorizationId, { status: 'captured', captured_amount: amount, updated_at: Date.now() });
  }

  async void(authorizationId: string): Promise<void> {
    await delay(this.#opts.latency);
    const auth = await this.#get(authorizationId);
    if (auth.status === 'voided') return;
    if (auth.status === 'declined') throw new AcquirerError('cannot void a declined authorization');
    await updateSandboxAuthorization(this.#db, authorizationId, { status: 'voided', updated_at: Date.now() });
  }

  async refund(authorizationId: string, reference: string, amount: number): Promise<void> {
    await delay(this.#opts.latency);
    if (await findSandboxRefundByReference(this.#db, reference)) return;
    const auth = await this.#get(authorizationId);
    if (auth.status !== 'captured') throw new AcquirerError(`cannot refund an authorization that is ${auth.status}`);
    const refunded = await sumSandboxRefunds(this.#db, authorizationId);
    if (!Number.isInteger(amount) || amount <= 0 || refunded + amount > auth.captured_amount) {
      throw new AcquirerError('refund amount must be positive and at most what is left of the capture');
    }
    await insertSandboxRefund(this.#db, { id: `re_${randomUUID().replaceAll('-', '')}`, authorization_id: authorizationId, reference, amount, created_at: Date.now() });
  }

  async findByReference(merchantId: string, reference: string): Promise<AuthorizationRecord | undefined> {
    const row = await findSandboxAuthorizationByReference(this.#db, merchantId, reference);
    return row ? recordOf(row) : undefined;
  }

  async #get(id: string): Promise<SandboxAuthorizationRow> {
    const auth = await findSandboxAuthorization(this.#db, id);
    if (!auth) throw new AcquirerError('unknown authorization');
    return auth;
  }

}

export class AcquirerError extends Error {
  override name = 'AcquirerError';
}

function resultOf(row: SandboxAuthorizationRow): AuthorizeResult {
  if (row.status === 'declined') {
    return { status: 'declined', reason: (row.decline_reason ?? 'card_declined') as never, authorizationId: row.id };
  }
  return { status: 'approved', authorizationId: row.id };
}

function recordOf(row: SandboxAuthorizationRow): AuthorizationRecord {
  return {
    id: row.id,
    status: row.status as AuthorizationRecord['status'],
    amount: row.amount,
    capturedAmount: row.captured_amount,
    currency: row.currency,
    declineReason: row.decline_reason,
  };
}
