import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The trace of a unit of work: the request that caused it. An HTTP request opens one; every job it
 * enqueues stores it in the job's payload (under `_trace`), and the worker reopens it while the job
 * runs, so log lines written by the job (and jobs it enqueues in turn, such as notifications) carry
 * the same ids as the request's. Both ids are ours or the client's opaque labels, never card data.
 */
export interface Trace {
  /** The `x-request-id` of the request that started the work. */
  reqId: string;
  /** The `x-correlation-id` of a `/cof/v1` request, when it had one. */
  correlationId?: string;
}

/** The key under which a job's payload carries its trace. Handlers ignore it. */
export const TRACE_KEY = '_trace';

const storage = new AsyncLocalStorage<Trace>();

/** Runs `fn` with `trace` as the current trace (for everything it awaits, too). */
export function runWithTrace<T>(trace: Trace, fn: () => T): T {
  return storage.run(trace, fn);
}

/** The trace of the work in progress, if any. */
export function currentTrace(): Trace | undefined {
  return storage.getStore();
}

/**
 * A trace built from client-supplied values. A correlation id is the client's free text (1–36
 * characters): should one hold a card-number-like run of digits, it is masked before it can reach a
 * log line or a job row.
 */
export function makeTrace(reqId: string, correlationId?: string): Trace {
  if (correlationId === undefined) return { reqId };
  return { reqId, correlationId: correlationId.replace(/\d{12,}/g, '[redacted]') };
}

/** `payload` with the current trace attached (object payloads only; others are returned as they are). */
export function withTrace(payload: unknown): unknown {
  const trace = currentTrace();
  if (!trace || payload === null || typeof payload !== 'object' || Array.isArray(payload)) return payload;
  return { ...payload, [TRACE_KEY]: trace };
}

/** The trace a job's parsed payload carries, if any. */
export function traceOf(payload: unknown): Trace | undefined {
  if (payload === null || typeof payload !== 'object') return undefined;
  const t = (payload as Record<string, unknown>)[TRACE_KEY] as Partial<Trace> | undefined;
  if (!t || typeof t.reqId !== 'string') return undefined;
  return typeof t.correlationId === 'string' ? { reqId: t.reqId, correlationId: t.correlationId } : { reqId: t.reqId };
}

/** The fields a log line gets from the current trace (pino `mixin`). */
export function traceLogFields(): Record<string, string> {
  const t = storage.getStore();
  if (!t) return {};
  return t.correlationId === undefined ? { reqId: t.reqId } : { reqId: t.reqId, correlationId: t.correlationId };
}
