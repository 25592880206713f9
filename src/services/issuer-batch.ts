import { randomUUID } from 'node:crypto';
import { assertNoPan } from '../domain/card.ts';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { TesseraError } from '../domain/errors.ts';
import { canonicalize } from '../domain/jcs.ts';
import { issuerTenant, validateBatchHeader, type BatchHeader } from '../domain/issuer.ts';
import type { Db } from '../storage/database.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import { batchResults, dropStaleIntake, findBatch, insertBatch, insertBatchRecords, updateBatch, type IssuerBatchRow } from '../storage/repos/issuer-batches.ts';
import type { Vault } from '../vault/vault.ts';
import { BatchReader } from './batch-reader.ts';
import { parseDetachedJws, SigningInput } from './batch-signature.ts';
import type { IssuerService } from './issuers.ts';

/**
 * Batch files (D1 `CONSUMER_CARD_REGISTRATION`): intake. The file is streamed once: each record is
 * canonicalized (RFC 8785) into a private spool file, so memory holds one record at a time. The
 * detached JWS is then verified over the spool; a bad signature refuses the whole file before any
 * record is stored. Accepted records are stored vault-encrypted, one row each, and a job processes
 * them (`issuer-batch-worker.ts`). The output is served only once every record has its result.
 */
export const TASK_BATCH = 'issuer.batch_file';
/** Largest batch file. 200 MB. */
export const MAX_BATCH_BYTES = 200 * 1024 * 1024;
const INSERT_CHUNK = 500;
/** An intake still RECEIVING after this long died with its process. 15 minutes. */
const STALE_INTAKE_MS = 15 * 60_000;

export interface BatchServiceDeps {
  db: Db;
  vault: Vault;
  issuers: IssuerService;
  now: () => number;
  nudge: () => void;
  /** Where spool files go. Default the OS temp dir. */
  spoolDir?: string;
}

export interface BatchStatus {
  batchId: string;
  seqNumber: number;
  status: 'PROCESSING' | 'COMPLETED';
  totalRecords: number;
  processedRecords: number;
  koRecords: number;
  clickToPayAutoEnrolment: boolean;
  createdAt: string;
  completedAt?: string;
}

export const batchRecordAad = (b: { issuerId: string; batchId: string; seqNumber: number }, idx: number) => `batch:${b.issuerId}:${b.batchId}:${b.seqNumber}:${idx}`;

export function batchStatus(row: IssuerBatchRow): BatchStatus {
  return {
    batchId: row.batch_id,
    seqNumber: row.seq_number,
    status: row.status as BatchStatus['status'],
    totalRecords: row.total_records,
    processedRecords: row.processed_records,
    koRecords: row.ko_records,
    clickToPayAutoEnrolment: row.auto_enrolment === 1,
    createdAt: new Date(row.created_at).toISOString(),
    ...(row.completed_at !== null ? { completedAt: new Date(row.completed_at).toISOString() } : {}),
  };
}

/** The output file's header. `errorCode` is null for a processed file, the reason for a refused one. */
export function outputHeader(h: { batchId: string; seqNumber: number; issuerId: string; autoEnrolment?: boolean }, totalRecords: number, errorCode: string | null) {
  return { batchId: h.batchId, seqNumber: h.seqNumber, issuerId: h.issuerId, operation: 'CONSUMER_CARD_REGISTRATION', clickToPayAutoEnrolment: h.autoEnrolment ?? false, totalRecords, errorCode };
}

async function* spoolLines(path: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8', highWaterMark: 256 * 1024 }), crlfDelay: Infinity });
  for await (const line of rl) if (line !== '') yield line;
}

export function createBatchService(deps: BatchServiceDeps) {
  const k = deps.db.kysely;

  /** Reads and spools the file; returns its header, signature and record count. */
  async function spool(body: AsyncIterable<Buffer | string>, path: string, maxBytes: number) {
    const reader = new BatchReader();
    const fh = await open(path, 'wx', 0o600);
    let header: unknown;
    let signature: unknown;
    const seen = new Set<string>();
    let count = 0;
    let pending = '';
    try {
      const handle = async (events: ReturnType<BatchReader['push']>) => {
        for (const e of events) {
          if (e.kind === 'record') {
            pending += canonicalize(e.value) + '\n';
            count++;
            if (pending.length > 1 << 20) {
              await fh.write(pending);
              pending = '';
            }
          } else {
            if (seen.has(e.key)) throw new TesseraError('invalid_request', `The batch file has ${e.key} twice.`, e.key);
            seen.add(e.key);
            if (e.key === 'header') header = e.value;
            else if (e.key === 'signature') signature = e.value;
            else if (e.key !== 'records') throw new TesseraError('unknown_field', `${/^[A-Za-z_]{1,32}$/.test(e.key) ? e.key : 'A field'} is not part of a batch file.`, e.key.slice(0, 32));
          }
        }
      };
      for await (const chunk of body) {
        const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        if (reader.bytes + buf.length > maxBytes) throw new TesseraError('payload_too_large', `A batch file may have at most ${maxBytes} bytes.`);
        await handle(reader.push(buf));
      }
      await handle(reader.end());
      if (pending) await fh.write(pending);
    } finally {
      await fh.close();
    }
    for (const key of ['header', 'signature']) if (!seen.has(key)) throw new TesseraError('missing_field', `The batch file needs ${key}.`, key);
    if (!seen.has('records')) throw new TesseraError('missing_field', 'The batch file needs records.', 'records');
    return { header, signature, count };
  }

  /** Verifies the detached JWS over the canonical `{header, records}` (JCS sorts `header` before `records`). */
  async function verify(issuerId: string, header: BatchHeader, signature: unknown, path: string): Promise<void> {
    const jws = parseDetachedJws(signature);
    const jwk = await deps.issuers.signingJwk(issuerId, jws.kid);
    if (!jwk) throw new TesseraError('invalid_signature', 'The batch file is signed with a key this issuer did not register.', 'signature');
    const input = new SigningInput(jws);
    input.update(`{"header":${canonicalize(header)},"records":[`);
    let first = true;
    for await (const line of spoolLines(path)) {
      input.update(first ? line : ',' + line);
      first = false;
    }
    input.update(']}');
    if (!input.verify(jwk, jws.signature)) throw new TesseraError('invalid_signature', 'The batch file signature does not verify: no record was processed.', 'signature');
  }

  return {
    /**
     * Takes a batch file from the API or the drop folder. `issuerId`: the authenticated issuer (the
     * header must name it), or undefined for a drop-folder file without one in its name.
     */
    async ingest(issuerId: string | undefined, body: AsyncIterable<Buffer | string>, opts: { outPath?: string; maxBytes?: number } = {}): Promise<BatchStatus> {
      const path = join(deps.spoolDir ?? tmpdir(), `tessera-batch-${randomUUID()}.jsonl`);
      try {
        const file = await spool(body, path, opts.maxBytes ?? MAX_BATCH_BYTES);
        const header = validateBatchHeader(file.header);
        assertNoPan(header.batchId, 'header.batchId');
        if (issuerId !== undefined && header.issuerId !== issuerId) throw new TesseraError('invalid_field', 'header.issuerId must be your issuerId.', 'header.issuerId');
        const issuer = header.issuerId;
        await verify(issuer, header, file.signature, path);
        const key = { issuerId: issuer, batchId: header.batchId, seqNumber: header.seqNumber };
        const now = deps.now();
        const row: IssuerBatchRow = {
          issuer_id: issuer,
          batch_id: header.batchId,
          seq_number: header.seqNumber,
          operation: header.operation,
          auto_enrolment: header.clickToPayAutoEnrolment ? 1 : 0,
          status: 'RECEIVING',
          total_records: file.count,
          processed_records: 0,
          ko_records: 0,
          out_path: opts.outPath ?? null,
          created_at: now,
          completed_at: null,
        };
        // A file whose intake died with its process (still RECEIVING long after) may be sent again.
        const fresh = (await insertBatch(k, row)) || ((await dropStaleIntake(k, key, now - STALE_INTAKE_MS)) && (await insertBatch(k, row)));
        if (!fresh) throw new TesseraError('batch_duplicate', 'This batchId and seqNumber were already sent.', 'header.seqNumber');
        // Stored in chunks (not one long transaction, which would stall SQLite's single connection);
        // the job exists only once every record is stored.
        let idx = 0;
        let rows = [];
        const tenant = issuerTenant(issuer);
        for await (const line of spoolLines(path)) {
          rows.push({ issuer_id: issuer, batch_id: header.batchId, seq_number: header.seqNumber, idx, request_ct: await deps.vault.encrypt(tenant, line, batchRecordAad(key, idx)), result: null });
          idx++;
          if (rows.length === INSERT_CHUNK) {
            await insertBatchRecords(k, rows);
            rows = [];
          }
        }
        await k.transaction().execute(async (trx) => {
          if (rows.length) await insertBatchRecords(trx, rows);
          await updateBatch(trx, key, { status: 'PROCESSING' });
          await enqueueJob(trx, { task: TASK_BATCH, payload: key, uniqueKey: `batch:${issuer}:${header.batchId}:${header.seqNumber}` }, now);
        });
        deps.nudge();
        return batchStatus({ ...row, status: 'PROCESSING' });
      } finally {
        await rm(path, { force: true });
      }
    },

    async status(issuerId: string, batchId: string, seqNumber?: number): Promise<BatchStatus> {
      const row = await findBatch(k, issuerId, batchId, seqNumber);
      if (!row || row.status === 'RECEIVING') throw new TesseraError('batch_not_found', 'No such batch file.', 'batchId');
      return batchStatus(row);
    },

    /** The output document, streamed in pieces; only for a completed batch. */
    async output(issuerId: string, batchId: string, seqNumber?: number): Promise<AsyncGenerator<string>> {
      const row = await findBatch(k, issuerId, batchId, seqNumber);
      if (!row || row.status === 'RECEIVING') throw new TesseraError('batch_not_found', 'No such batch file.', 'batchId');
      if (row.status !== 'COMPLETED') throw new TesseraError('batch_not_ready', 'The batch file is still being processed: its output is served once every record has a result.', 'batchId');
      return outputDocument(deps.db, row);
    },
  };
}

/** `{header, recordsResults: [...]}` of a completed batch, page by page. */
export async function* outputDocument(db: Db, row: IssuerBatchRow): AsyncGenerator<string> {
  const key = { issuerId: row.issuer_id, batchId: row.batch_id, seqNumber: row.seq_number };
  const header = outputHeader({ ...key, autoEnrolment: row.auto_enrolment === 1 }, row.total_records, null);
  yield `{"header":${JSON.stringify(header)},"recordsResults":[`;
  let after = -1;
  let first = true;
  for (;;) {
    const page = await batchResults(db.kysely, key, after, 1000);
    if (page.length === 0) break;
    const parts = page.map((p) => p.result ?? 'null');
    yield (first ? '' : ',') + parts.join(',');
    first = false;
    after = page[page.length - 1]!.idx;
  }
  yield ']}';
}

export type BatchService = ReturnType<typeof createBatchService>;
