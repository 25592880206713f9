import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { currentTrace } from '../observability/trace-context.ts';
import type { Db } from '../storage/database.ts';
import type { Executor } from '../storage/repos/executor.ts';
import { appendAuditRows, auditPage, listTenantAudit, lockAuditHead, readAuditHead, type AuditRow } from '../storage/repos/audit.ts';

/** What a caller says about one access to card data. Never the card data. */
export interface AuditEntry {
  /** Who: the merchant id, or `issuer:<issuerId>` (the vault tenant). */
  tenantId: string;
  /** What, e.g. `order.pay`. A stable dotted name. */
  operation: string;
  /** Why, in words. */
  reason: string;
  /** Which object: an id (card, order, network token, batch row), never a token or a PAN. */
  subject?: string | undefined;
  /** Default: the request that caused the work (the trace: an HTTP request, or the request that enqueued a job), else null. */
  requestId?: string | undefined;
}

/** A key that chains audit records: `id` is stored with each record so verification finds it. */
export interface AuditKey {
  id: string;
  key: KeyObject;
}

export interface AuditServiceDeps {
  db: Db;
  /** The first signs new records; all verify. */
  keys: AuditKey[];
  now: () => number;
}

export const AUDIT_GENESIS = '0'.repeat(64);

/** The outcome of `verify`: where the chain first breaks, if it does. */
export type AuditVerification =
  | { ok: true; records: number; headSeq: number }
  | { ok: false; records: number; headSeq: number; seq: number; problem: 'missing' | 'reordered' | 'changed' | 'unknown_key' | 'truncated'; message: string };

function chainHash(key: KeyObject, row: Omit<AuditRow, 'hash'>): string {
  const fields = [row.seq, row.tenant_id, row.operation, row.reason, row.subject, row.request_id, row.created_at, row.key_id];
  return createHmac('sha256', key).update(row.prev_hash).update('\n').update(JSON.stringify(fields)).digest('hex');
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

export function createAuditService(deps: AuditServiceDeps) {
  const k = deps.db.kysely;
  const signer = deps.keys[0];
  if (!signer) throw new Error('the audit log needs a key');
  const byId = new Map(deps.keys.map((key) => [key.id, key.key]));
  const forUpdate = deps.db.engine === 'postgres';

  /** Appends `entries` in order under one lock of the chain head. */
  async function append(trx: Executor, entries: AuditEntry[]): Promise<void> {
    const head = await lockAuditHead(trx, forUpdate);
    let prev: { seq: number; hash: string } = head;
    const rows: AuditRow[] = [];
    const now = deps.now();
    for (const entry of entries) {
      const row: Omit<AuditRow, 'hash'> = {
        seq: prev.seq + 1,
        tenant_id: entry.tenantId,
        operation: entry.operation,
        reason: entry.reason,
        subject: entry.subject ?? null,
        request_id: entry.requestId ?? null,
        created_at: now,
        key_id: signer!.id,
        prev_hash: prev.hash,
      };
      const hash = chainHash(signer!.key, row);
      rows.push({ ...row, hash });
      prev = { seq: row.seq, hash };
    }
    await appendAuditRows(trx, rows);
  }

  /**
   * Group commit: appends asked for while a transaction on the chain head is running wait and go
   * together in the next one — one turn on the head (a lock every process takes) for many callers.
   * Each caller's promise settles when its records are committed; a failed group is retried caller
   * by caller, so one caller's failure is not another's.
   */
  const waiting: { entries: AuditEntry[]; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushing = false;
  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (waiting.length > 0) {
        const group = waiting.splice(0, 256);
        try {
          await k.transaction().execute((t) => append(t, group.flatMap((g) => g.entries)));
          for (const g of group) g.resolve();
        } catch {
          for (const g of group) {
            try {
              await k.transaction().execute((t) => append(t, g.entries));
              g.resolve();
            } catch (err) {
              g.reject(err);
            }
          }
        }
      }
    } finally {
      flushing = false;
    }
  }
  function enqueue(entries: AuditEntry[]): Promise<void> {
    // The request id is the caller's: read it now, in the caller's trace, not in the flush's.
    const reqId = currentTrace()?.reqId ?? null;
    const own = entries.map((e) => ({ ...e, requestId: e.requestId ?? reqId ?? undefined }));
    return new Promise<void>((resolve, reject) => {
      waiting.push({ entries: own, resolve, reject });
      if (!flushing) void flush();
    });
  }

  return {
    /**
     * Appends one record. Call it before the card data is used, so an access that cannot be
     * recorded does not happen. `trx`: the caller's open transaction, if it holds one (SQLite has a
     * single connection); otherwise the append is its own short transaction.
     */
    async record(entry: AuditEntry, trx?: Executor): Promise<void> {
      if (trx) return append(trx, [{ ...entry, requestId: entry.requestId ?? currentTrace()?.reqId ?? undefined }]);
      return enqueue([entry]);
    },

    /** Appends several records in one transaction (one turn on the chain head). */
    async recordMany(entries: AuditEntry[]): Promise<void> {
      if (entries.length === 0) return;
      return enqueue(entries);
    },

    /** A tenant's own records, newest first. `cursor`: the `next_cursor` of the previous page. */
    async list(tenantId: string, opts: { limit?: number | undefined; cursor?: string | undefined }) {
      const limit = opts.limit ?? 20;
      const before = opts.cursor !== undefined && /^[1-9][0-9]{0,15}$/.test(opts.cursor) ? Number(opts.cursor) : undefined;
      const rows = await listTenantAudit(k, tenantId, limit + 1, before);
      const page = rows.slice(0, limit);
      return {
        data: page.map((r) => ({
          id: String(r.seq),
          operation: r.operation,
          reason: r.reason,
          subject: r.subject,
          request_id: r.request_id,
          created_at: new Date(r.created_at).toISOString(),
          hash: r.hash,
        })),
        next_cursor: rows.length > limit ? String(page[page.length - 1]!.seq) : null,
      };
    },

    /** Re-computes the whole chain and its head; reports the first record that does not fit. */
    async verify(): Promise<AuditVerification> {
      const head = (await readAuditHead(k)) ?? { seq: 0, hash: AUDIT_GENESIS };
      let prev = AUDIT_GENESIS;
      let expected = 1;
      let records = 0;
      const fail = (seq: number, problem: Extract<AuditVerification, { ok: false }>['problem'], message: string): AuditVerification =>
        ({ ok: false, records, headSeq: head.seq, seq, problem, message });
      for (;;) {
        const page = await auditPage(k, expected - 1, 1000);
        if (page.length === 0) break;
        for (const row of page) {
          if (row.seq !== expected) return fail(expected, 'missing', `record ${expected} is missing (the next one is ${row.seq})`);
          if (row.prev_hash !== prev) return fail(row.seq, 'reordered', `record ${row.seq} does not follow record ${row.seq - 1}: records were removed, inserted or reordered`);
          const key = byId.get(row.key_id);
          if (!key) return fail(row.seq, 'unknown_key', `record ${row.seq} is chained under key ${row.key_id}, which is not loaded`);
          if (!sameHex(chainHash(key, row), row.hash)) return fail(row.seq, 'changed', `record ${row.seq} was changed (or moved)`);
          prev = row.hash;
          expected += 1;
          records += 1;
        }
      }
      if (head.seq !== records || head.hash !== prev) {
        return fail(records + 1, 'truncated', `the chain ends at record ${records} but its head says ${head.seq}: records were removed from the end`);
      }
      return { ok: true, records, headSeq: head.seq };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
