// One measurement: a single autocannon run against one target, in this process, of which only a
// steady-state window is measured: it opens after the warm-up, once every connection has had an
// answer, and lasts the measured duration.
//
// Why one run and not "warm-up run, then measured run": a busy Node server accepts about one new
// connection per event-loop turn (seen with strace: one accept4 per epoll_wait), so 64 fresh
// connections opened against a saturated server are let in over a second or more, and their first
// requests wait that long. That is real, and reported (`admittedS`), but it is connection set-up,
// not the steady-state throughput and latency the targets are about.
import { readFileSync } from 'node:fs';
import { processCpuMs } from './processes.ts';
import autocannon from 'autocannon';

/** What every request of a run sends. */
export interface RequestSpec {
  url: string;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}

export interface Measurement {
  connections: number;
  /** Seconds of the measured window (process.hrtime). */
  windowS: number;
  /** Seconds from the start of the run until every connection had had an answer. */
  admittedS: number;
  /** 2xx responses completed in the window. */
  ok: number;
  /** 2xx responses per second in the window. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
  /** Over the whole run, warm-up included: non-2xx answers + requests that got no answer. Must be 0. */
  errors: number;
  non2xx: number;
  /** Requests that got no answer: socket errors and timeouts (autocannon counts both). */
  failed: number;
  timeouts: number;
  /** Answers per status code over the whole run. */
  statusCodes: Record<string, number>;
  /** CPU the server process used in the window, in % of one core (Linux /proc; NaN elsewhere). */
  serverCpu: number;
  /** CPU the load generator (this process) used in the window, in % of one core. */
  loadgenCpu: number;
  /**
   * CPU the rest of the machine used in the window, in % of one core: everything busy in /proc/stat
   * but the server and the load generator. Well above 10 % means something else competed for the
   * cores (another benchmark, a build) and the numbers are not trustworthy.
   */
  otherCpu: number;
  /** process.hrtime of the window in µs, to cut a CPU profile of the server to it. */
  windowUs: [number, number];
}

/** The window waits at most this long after the warm-up for every connection to be answered. */
const ADMISSION_GRACE_S = 10;

/** user + system CPU seconds of a process, from /proc (clock ticks are 100 Hz on Linux). */
function cpuSeconds(pid: number): number {
  try {
    return processCpuMs(pid) / 1000;
  } catch {
    return Number.NaN;
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    // cpu user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100;
  } catch {
    return Number.NaN;
  }
}

const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? Number.NaN;
}

/** `alive`: false once the server has gone; the run then stops at once and the measure throws. */
export async function measure(
  spec: RequestSpec,
  serverPid: number,
  connections: number,
  warmupS: number,
  durationS: number,
  alive: () => boolean = () => true,
): Promise<Measurement> {
  const instance = autocannon({
    ...spec,
    connections,
    // An upper bound: the run is stopped when the window closes.
    duration: warmupS + ADMISSION_GRACE_S + durationS + 5,
    renderProgressBar: false,
    renderResultsTable: false,
    renderLatencyTable: false,
  });

  // autocannon's histogram keeps whole milliseconds; a 5 ms target needs the fractions, so the
  // latencies come from its per-response event (float ms from process.hrtime).
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  // An object, not a `let`: TypeScript does not see the callbacks below change a local's type.
  const state: { phase: 'warmup' | 'window' | 'done' | 'server gone' } = { phase: 'warmup' };
  const answered = new Set<unknown>();
  const statusCodes: Record<string, number> = {};
  let non2xx = 0;
  instance.on('response', (client: unknown, status: number, _bytes: number, ms: number) => {
    statusCodes[status] = (statusCodes[status] ?? 0) + 1;
    const ok = status >= 200 && status < 300;
    if (!ok) non2xx++;
    if (state.phase === 'warmup') answered.add(client);
    else if (state.phase === 'window' && ok) {
      if (n === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[n++] = ms;
    }
  });

  const start = nowUs();
  let admittedS = Number.NaN;
  let windowStart = 0;
  let windowEnd = 0;
  let serverCpu0 = 0;
  let machine0 = 0;
  let ownCpu0 = process.cpuUsage();
  let serverCpu = Number.NaN;
  let loadgenCpu = Number.NaN;
  let otherCpu = Number.NaN;
  const ticker = setInterval(() => {
    if (!alive()) {
      state.phase = 'server gone';
      clearInterval(ticker);
      instance.stop();
      return;
    }
    const elapsedS = (nowUs() - start) / 1e6;
    if (Number.isNaN(admittedS) && answered.size >= connections) admittedS = elapsedS;
    if (state.phase === 'warmup' && elapsedS >= warmupS && (answered.size >= connections || elapsedS >= warmupS + ADMISSION_GRACE_S)) {
      state.phase = 'window';
      windowStart = nowUs();
      serverCpu0 = cpuSeconds(serverPid);
      machine0 = machineBusySeconds();
      ownCpu0 = process.cpuUsage();
    } else if (state.phase === 'window' && nowUs() - windowStart >= durationS * 1e6) {
      state.phase = 'done';
      windowEnd = nowUs();
      const wallS = (windowEnd - windowStart) / 1e6;
      const own = process.cpuUsage(ownCpu0);
      serverCpu = ((cpuSeconds(serverPid) - serverCpu0) / wallS) * 100;
      loadgenCpu = ((own.user + own.system) / 1e6 / wallS) * 100;
      otherCpu = ((machineBusySeconds() - machine0) / wallS) * 100 - serverCpu - loadgenCpu;
      clearInterval(ticker);
      instance.stop();
    }
  }, 20);

  const result = await instance;
  clearInterval(ticker);
  if (state.phase !== 'done') throw new Error(`autocannon ended before the measured window closed (${state.phase})`);

  const windowS = (windowEnd - windowStart) / 1e6;
  const sorted = latencies.subarray(0, n).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    connections,
    windowS,
    admittedS,
    ok: n,
    rps: n / windowS,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: n ? sum / n : Number.NaN,
    maxMs: n ? (sorted[n - 1] ?? Number.NaN) : Number.NaN,
    errors: non2xx + result.errors,
    non2xx,
    failed: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    serverCpu,
    loadgenCpu,
    otherCpu,
    windowUs: [windowStart, windowEnd],
  };
}
