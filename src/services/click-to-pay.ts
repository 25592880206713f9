import { randomUUID } from 'node:crypto';
import type { Card } from '../domain/card.ts';
import { TesseraError, type ErrorCode } from '../domain/errors.ts';
import { canEnrolInClickToPay } from '../domain/issuer.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { enqueueJob, type JobRow } from '../storage/repos/jobs.ts';
import {
  completeOperation,
  createC2pProfile,
  findCard,
  findConsumer,
  findOperation,
  findOperationById,
  insertLiveOperation,
  listOperations,
  setCardC2pStatus,
  type IssuerCardRow,
  type IssuerOperationRow,
} from '../storage/repos/issuer-cards.ts';
import type { IssuerCardService } from './issuer-cards.ts';
import type { IssuerService } from './issuers.ts';
import type { Digitization, IssuerTokenService } from './issuer-tokens.ts';

export const TASK_C2P_ENROL = 'issuer.click_to_pay_enrolment';
export const C2P = 'CLICK_TO_PAY_ENROLMENT';
/** TSP attempts of one enrolment before it fails with the transient error. Default 5. */
const ENROL_ATTEMPTS = 5;
/** Why an enrolment fails when the consumer cannot be reached: Click to Pay needs an email and a phone. */
export const CONSUMER_CONTACT_REQUIRED = 'consumer_contact_required';

export interface ClickToPayServiceDeps {
  db: Db;
  issuers: IssuerService;
  cards: IssuerCardService;
  tokens: IssuerTokenService;
  now: () => number;
  nudge: () => void;
}

export interface OperationView {
  operationId: string;
  operation: typeof C2P;
  status: 'PENDING' | 'SUCCESSFUL' | 'FAILED';
  startTime: string;
  endTime?: string;
  errorCode?: string;
}

export function operationView(r: IssuerOperationRow): OperationView {
  return {
    operationId: r.id,
    operation: C2P,
    status: r.status as OperationView['status'],
    startTime: new Date(r.start_time).toISOString(),
    ...(r.end_time !== null ? { endTime: new Date(r.end_time).toISOString() } : {}),
    ...(r.error_code !== null ? { errorCode: r.error_code } : {}),
  };
}

/** The outcome of enrolling one card, decided outside any transaction. */
export type Enrolment = { ok: true; digitization: Extract<Digitization, { ok: true }> | undefined } | { ok: false; code: ErrorCode | typeof CONSUMER_CONTACT_REQUIRED; transient: boolean };

export function createClickToPayService(deps: ClickToPayServiceDeps) {
  const k = deps.db.kysely;

  const service = {
    /**
     * Decides one card's enrolment: the consumer must have an email and a phone; a card not yet
     * enrolled is digitized through the TSP. Writes nothing (see `record`).
     */
    async enrol(card: IssuerCardRow, consumer: { has_email: number; has_phone: number } | undefined, plain?: Card, email?: string): Promise<Enrolment> {
      if (!consumer || !canEnrolInClickToPay(consumer)) return { ok: false, code: CONSUMER_CONTACT_REQUIRED, transient: false };
      if (card.c2p_status === 'ENROLLED') return { ok: true, digitization: undefined };
      const pan = plain ?? (await deps.cards.decryptCard(card, { operation: 'click_to_pay.enrol', reason: 'Click to Pay enrolment: digitize an issuer card' }));
      const d = await deps.tokens.digitize(card.issuer_id, card.id, card.network, pan, 'CLICK_TO_PAY', email);
      if (!d.ok) return { ok: false, code: d.code, transient: d.transient };
      return { ok: true, digitization: d };
    },

    /** Writes a successful enrolment in the caller's transaction: the consumer's profile (first time), the token, the card's status. */
    async record(trx: Executor, card: IssuerCardRow, e: Extract<Enrolment, { ok: true }>, now: number): Promise<void> {
      await createC2pProfile(trx, card.issuer_id, card.consumer_id, now);
      if (e.digitization) await deps.tokens.save(trx, e.digitization.row);
      await setCardC2pStatus(trx, card.issuer_id, card.id, 'ENROLLED', now);
    },

    /**
     * `POST …/cards/:cardId/operations:clickToPayEnrolment`: a PENDING operation and its job. A card
     * with a pending or successful enrolment gets that operation back (idempotent).
     */
    async request(issuerId: string, cardId: string, input: { reason?: string | undefined; reasonCode?: string | undefined }): Promise<{ created: boolean; view: OperationView }> {
      await deps.cards.getCard(issuerId, cardId);
      const existing = (await listOperations(k, issuerId, cardId, C2P)).find((o) => o.status !== 'FAILED');
      if (existing) return { created: false, view: operationView(existing) };
      const now = deps.now();
      const row: IssuerOperationRow = {
        id: randomUUID(),
        issuer_id: issuerId,
        card_id: cardId,
        operation: C2P,
        status: 'PENDING',
        reason: input.reason ?? null,
        reason_code: input.reasonCode ?? null,
        error_code: null,
        start_time: now,
        end_time: null,
      };
      const inserted = await k.transaction().execute(async (trx) => {
        if (!(await insertLiveOperation(trx, row))) return false;
        await enqueueJob(trx, { task: TASK_C2P_ENROL, payload: { operationId: row.id }, maxAttempts: ENROL_ATTEMPTS }, now);
        return true;
      });
      if (!inserted) {
        // A concurrent request created it first: answer with that one.
        const winner = (await listOperations(k, issuerId, cardId, C2P)).find((o) => o.status !== 'FAILED');
        if (winner) return { created: false, view: operationView(winner) };
      }
      deps.nudge();
      return { created: true, view: operationView(row) };
    },

    /** The job: enrol, then end the operation and notify the issuer in one transaction. */
    async process(payload: unknown, job: JobRow): Promise<void> {
      const { operationId } = payload as { operationId: string };
      const op = await findOperationById(k, operationId);
      if (!op || op.status !== 'PENDING') return;
      const card = await findCard(k, op.issuer_id, op.card_id);
      const consumer = card ? await findConsumer(k, op.issuer_id, card.consumer_id) : undefined;
      let e: Enrolment;
      if (!card) e = { ok: false, code: 'card_not_found', transient: false };
      else {
        const email = card.network === 'AMEX' ? await deps.cards.consumerEmail(op.issuer_id, card.consumer_id) : undefined;
        e = await service.enrol(card, consumer, undefined, email);
      }
      // Transient network faults: let the queue retry with backoff; the last attempt reports the failure.
      if (!e.ok && e.transient && job.attempts < job.max_attempts) throw new Error(`click to pay enrolment: ${e.code}`);
      const now = deps.now();
      let queued = false;
      await k.transaction().execute(async (trx) => {
        if (e.ok && card) await service.record(trx, card, e, now);
        const done = await completeOperation(trx, op.id, { status: e.ok ? 'SUCCESSFUL' : 'FAILED', error_code: e.ok ? null : e.code, end_time: now });
        if (!done) return;
        const view = operationView({ ...op, status: e.ok ? 'SUCCESSFUL' : 'FAILED', error_code: e.ok ? null : e.code, end_time: now });
        queued = await deps.issuers.notify(trx, op.issuer_id, 'cards', 'card.operation', { operations: [{ ...view, cardId: op.card_id }] });
      });
      if (queued) deps.nudge();
    },

    async list(issuerId: string, cardId: string): Promise<{ operations: OperationView[] }> {
      await deps.cards.getCard(issuerId, cardId);
      return { operations: (await listOperations(k, issuerId, cardId)).map(operationView) };
    },

    async get(issuerId: string, cardId: string, operationId: string): Promise<OperationView> {
      const op = await findOperation(k, issuerId, cardId, operationId);
      if (!op) throw new TesseraError('operation_not_found', 'No such operation for this card.', 'operationId');
      return operationView(op);
    },
  };
  return service;
}

export type ClickToPayService = ReturnType<typeof createClickToPayService>;
