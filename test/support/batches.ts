import { withCheckDigit } from '../../src/sandbox/test-cards.ts';
import { eventually, type Instance } from './harness.ts';
import { cof, encryptToTessera, type CofMerchant } from './cof.ts';

/** Approving Visa BINs for batch tests: ten issuers. */
export const BINS = ['411111', '422222', '433333', '444444', '455555', '466666', '477777', '488888', '499999', '412345'];

/** A Luhn-valid 16-digit card of `bin` numbered `n` (scenario digits avoided: the number ends in …0-9 then a check digit). */
export function cardOf(bin: string, n: number): string {
  return withCheckDigit(bin + String(n).padStart(8, '0') + '1');
}

export interface BatchRecord {
  rowId: string;
  fpan: string;
  exp: string;
  name?: string;
  cvv?: string;
  accountId?: string;
  email?: string;
}

/** `count` records over BINS: `bigShare` of them on BINS[0], the rest round-robin over the others. */
export function skewedRecords(count: number, bigShare: number, prefix = 'r'): BatchRecord[] {
  const big = Math.round(count * bigShare);
  return Array.from({ length: count }, (_, i) => {
    const bin = i < big ? BINS[0]! : BINS[1 + ((i - big) % (BINS.length - 1))]!;
    return { rowId: `${prefix}${i}`, fpan: cardOf(bin, i), exp: '1234', accountId: `acct-${i}` };
  });
}

export async function sendChunk(t: Instance, m: CofMerchant, batchId: string, records: unknown[], last: boolean, correlationId?: string) {
  const encryptedData = await encryptToTessera(t, { records });
  return cof(t, m, 'POST', '/cof/v1/batches', { body: { merchantId: m.id, batchId, last, encryptedData }, ...(correlationId ? { correlationId } : {}) });
}

export async function waitCompleted(t: Instance, m: CofMerchant, batchId: string, timeoutMs = 20_000) {
  return eventually(
    async () => {
      const res = await cof(t, m, 'GET', `/cof/v1/batches/${batchId}`);
      return res.body?.status === 'COMPLETED' ? res.body : undefined;
    },
    timeoutMs,
    `batch ${batchId} to complete`,
  );
}

/** Follows nextCursor to the end. */
export async function allResults(t: Instance, m: CofMerchant, batchId: string, limit = 1000) {
  const out: any[] = [];
  let cursor: string | null | undefined;
  for (;;) {
    const q = new URLSearchParams({ limit: String(limit), ...(cursor ? { cursor } : {}) });
    const res = await cof(t, m, 'GET', `/cof/v1/batches/${batchId}/results?${q}`);
    if (res.status !== 200) throw new Error(`results: ${res.status} ${res.text}`);
    out.push(...res.body.results);
    cursor = res.body.nextCursor;
    if (cursor === null) return out;
  }
}
