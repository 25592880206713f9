import { setTimeout as sleep } from 'node:timers/promises';

/** Simulated network latency for the sandbox's networks: `latency` gives the ms of one call (none when unset or 0). */
export type Latency = (() => number) | undefined;

/** A call's latency, spent before its work. */
export async function delay(latency: Latency): Promise<void> {
  const ms = latency?.() ?? 0;
  if (ms > 0) await sleep(ms);
}

/**
 * `work` inside a round trip: half the latency on the way there, half on the way back. An answer
 * lost on its way back (the caller's process died) leaves the work done: the window a reconciler covers.
 */
export async function roundTrip<T>(latency: Latency, work: () => Promise<T>): Promise<T> {
  const ms = latency?.() ?? 0;
  if (ms > 0) await sleep(ms / 2);
  const result = await work();
  if (ms > 0) await sleep(ms / 2);
  return result;
}
