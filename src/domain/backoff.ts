/**
 * The wait before retry number `attempt` (1 = the first): `baseMs` doubled each attempt, capped at
 * `maxMs`, with full jitter on the upper half (retries spread out, never sooner than half the delay).
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + Math.random() * (exp / 2));
}
