import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, renameSync } from 'node:fs';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInterface } from 'node:readline';
import { CompactEncrypt, importJWK, type JWK } from 'jose';
import { backoffMs } from '../domain/backoff.ts';
import { createProgress } from './progress.ts';

export const IMPORT_HELP = `tessera cof import --url URL --merchant ID --api-key KEY --file cards.csv --out results.csv
    [--batch-id ID] [--chunk-size N] [--retry-for SECONDS] [--json]

Reads a CSV with the header rowId,fpan,exp,name,accountId,email (exp is MMYY; name, accountId and
email may be empty), encrypts it in chunks (default 10000 records) to the server's key and submits
them to /cof/v1/batches, shows progress, waits for every result and writes results.csv
(rowId,status,tokenId,tokenStatus,cardLastDigits,errorCode,message). Run it again to resume an
interrupted import: the batch id is derived from the file's content unless --batch-id is given.
When the server stops answering (a restart, a deploy) or answers 429/502/503/504, the import waits
and resumes by itself, sending no row twice, for up to --retry-for seconds at a time (default 120;
0 stops at the first such failure).
`;

export interface ImportOptions {
  url: string;
  merchantId: string;
  apiKey: string;
  file: string;
  out: string;
  batchId?: string | undefined;
  chunkSize: number;
  /** How long the server may stay unreachable (or busy) before the import gives up, ms. Default 120 s. */
  retryForMs?: number;
  /** Where progress goes (never stdout: `--json` prints one document there). Default stderr. */
  progress?: NodeJS.WriteStream;
}

const COLUMNS = ['rowId', 'fpan', 'exp', 'name', 'accountId', 'email'] as const;

/** One CSV line (RFC 4180 quoting within a line). */
export function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') out.push(field), (field = '');
    else field += c;
  }
  out.push(field);
  return out;
}

const csv = (v: unknown) => (v === undefined || v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replaceAll('"', '""')}"` : String(v));

async function* records(file: string): AsyncGenerator<Record<string, string>> {
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  let header: string[] | undefined;
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === '') continue;
    const cells = parseCsvLine(line);
    if (!header) {
      header = cells.map((c) => c.trim());
      const missing = ['rowId', 'fpan', 'exp'].filter((c) => !header!.includes(c));
      if (missing.length) throw new Error(`${file}: the header lacks ${missing.join(', ')} (expected ${COLUMNS.join(',')}).`);
      continue;
    }
    const r: Record<string, string> = {};
    header.forEach((h, i) => {
      const v = cells[i]?.trim();
      if ((COLUMNS as readonly string[]).includes(h) && v) r[h] = v;
    });
    // Line numbers only: a row's content may be a card number.
    if (!r.rowId) throw new Error(`${file}: line ${n} has no rowId.`);
    yield r;
  }
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex').slice(0, 16);
}

/** The server did not answer, or answered that it is busy or unavailable: worth waiting out. */
class Unavailable extends Error {
  readonly retryAfterS: number | undefined;
  constructor(message: string, retryAfterS?: number) {
    super(message);
    this.retryAfterS = retryAfterS;
  }
}

const BUSY_STATUSES = new Set([429, 502, 503, 504]);

/**
 * Imports a CSV. While the server is unavailable the import waits and starts over, as a new run
 * would: the batch's state on the server says which rows were accepted (a chunk whose answer was
 * lost is not sent again), and the results are read again from the start.
 */
export async function cofImport(o: ImportOptions) {
  const batchId = o.batchId ?? `import-${await fileDigest(o.file)}`;
  const progress = createProgress({ stream: o.progress ?? process.stderr });
  const retryForMs = o.retryForMs ?? 120_000;
  let since: number | undefined;
  let attempt = 0;
  for (;;) {
    try {
      return await importOnce(o, batchId, progress, () => {
        since = undefined;
        attempt = 0;
      });
    } catch (err) {
      if (!(err instanceof Unavailable)) throw err;
      since ??= Date.now();
      const wait = Math.max(backoffMs(++attempt, 1000, 10_000), (err.retryAfterS ?? 0) * 1000);
      if (Date.now() + wait - since > retryForMs) throw new Error(`${err.message}, for ${Math.round((Date.now() - since) / 1000)} s. Run the same command again to resume.`);
      progress.line(`${err.message}; trying again in ${(wait / 1000).toFixed(1)} s (rows already accepted are not sent again).`);
      await sleep(wait);
    }
  }
}

async function importOnce(o: ImportOptions, batchId: string, progress: ReturnType<typeof createProgress>, answered: () => void) {
  const base = o.url.replace(/\/+$/, '');
  const headers = { authorization: `APIKEY ${o.apiKey}`, 'x-correlation-id': batchId.slice(0, 36), 'content-type': 'application/json' };
  const call = async (path: string, init?: RequestInit) => {
    let res: Response;
    try {
      res = await fetch(base + path, init);
    } catch {
      throw new Unavailable(`The server at ${base} did not answer`);
    }
    const json = (await res.json().catch(() => ({}))) as Record<string, any>;
    if (BUSY_STATUSES.has(res.status)) {
      throw new Unavailable(`The server answered HTTP ${res.status} ${json.errorCode ?? ''}`.trim(), Number(res.headers.get('retry-after')) || undefined);
    }
    answered();
    return { status: res.status, json };
  };
  const api = (method: string, path: string, body?: unknown) => call(path, { method, headers, ...(body ? { body: JSON.stringify(body) } : {}) });
  const fail = (what: string, r: { status: number; json: Record<string, any> }) =>
    new Error(`${what}: HTTP ${r.status} ${r.json.errorCode ?? ''} ${r.json.message ?? ''}`.trim());

  const existing = await api('GET', `/cof/v1/batches/${encodeURIComponent(batchId)}`);
  if (existing.status !== 200 && existing.status !== 404) throw fail('reading the batch', existing);
  let status = existing.status === 200 ? (existing.json.status as string) : 'NEW';
  let skip = existing.status === 200 ? Number(existing.json.totalRecords) : 0;
  if (skip > 0 && status === 'RECEIVING') progress.line(`Resuming batch ${batchId}: ${skip} records already accepted.`);

  if (status === 'NEW' || status === 'RECEIVING') {
    const keys = (await call('/cof/v1/keys')).json as { keys?: JWK[] };
    const jwk = keys.keys?.[0];
    if (!jwk) throw new Error('the server publishes no encryption key');
    const key = await importJWK({ ...jwk, alg: 'RSA-OAEP-256' }, 'RSA-OAEP-256');
    const send = async (chunk: Record<string, string>[], last: boolean) => {
      const encryptedData = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify({ records: chunk })))
        .setProtectedHeader({ alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: jwk.kid! })
        .encrypt(key);
      const r = await api('POST', '/cof/v1/batches', { merchantId: o.merchantId, batchId, last, encryptedData });
      if (r.status !== 202) throw fail('submitting a chunk', r);
      progress.update('sent', Number(r.json.totalRecords), undefined);
      status = String(r.json.status);
    };
    let pending: Record<string, string>[] = [];
    let seen = 0;
    let sent = false;
    for await (const r of records(o.file)) {
      if (seen++ < skip) continue;
      if (pending.length === o.chunkSize) {
        await send(pending, false);
        sent = true;
        pending = [];
      }
      pending.push(r);
    }
    if (pending.length > 0 || !sent || status === 'RECEIVING') await send(pending, true);
  }

  let last = existing.json;
  for (;;) {
    const r = await api('GET', `/cof/v1/batches/${encodeURIComponent(batchId)}`);
    if (r.status !== 200) throw fail('reading the batch', r);
    last = r.json;
    progress.update('tokenized', Number(last.processed), Number(last.totalRecords));
    if (last.status === 'COMPLETED') break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  progress.done();

  const tmp = `${o.out}.part`;
  const out = createWriteStream(tmp);
  out.write('rowId,status,tokenId,tokenStatus,cardLastDigits,errorCode,message\n');
  let cursor: string | null = null;
  do {
    const q: string = new URLSearchParams({ limit: '1000', ...(cursor ? { cursor } : {}) }).toString();
    const r = await api('GET', `/cof/v1/batches/${encodeURIComponent(batchId)}/results?${q}`);
    if (r.status !== 200) throw fail('reading results', r);
    for (const x of r.json.results as Record<string, string>[]) {
      const line = [x.rowId, x.errorCode ? 'FAILED' : 'SUCCEEDED', x.tokenId, x.tokenStatus, x.cardLastDigits, x.errorCode, x.message].map(csv).join(',') + '\n';
      if (!out.write(line)) await once(out, 'drain');
    }
    cursor = r.json.nextCursor as string | null;
  } while (cursor);
  out.end();
  await once(out, 'finish');
  renameSync(tmp, o.out);
  return { batchId, totalRecords: Number(last.totalRecords), succeeded: Number(last.succeeded), failed: Number(last.failed), out: o.out };
}
