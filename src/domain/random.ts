import { randomFillSync } from 'node:crypto';

/**
 * Cryptographically random bytes from a pooled buffer: one CSPRNG call fills 16 KiB, then small
 * draws (IVs, token ids) are sliced off it. A call per 12-byte IV cost more than the encryption.
 * Each draw is a copy, so a later refill never changes bytes already handed out.
 */
const POOL = Buffer.alloc(16 * 1024);
let offset = POOL.length;

export function randomPooled(size: number): Buffer {
  if (size > 256) return randomFillSync(Buffer.alloc(size));
  if (offset + size > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const out = Buffer.from(POOL.subarray(offset, offset + size));
  // Zero what was handed out, so the pool never holds the same bytes for two draws' lifetimes.
  POOL.fill(0, offset, offset + size);
  offset += size;
  return out;
}
