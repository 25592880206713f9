/**
 * Progress of a long-running command (imports, key rotation, batch submission): on a terminal
 * (`stream.isTTY`) a bar redrawn in place with the rate and ETA; otherwise (CI, a log file) a plain
 * line every `intervalMs`, and one at each phase's end. It writes to stderr by default, never to
 * stdout, so `--json` output stays exactly one document.
 */
export interface ProgressOptions {
  /** Where progress goes. Default `process.stderr`. */
  stream?: NodeJS.WriteStream | NodeJS.WritableStream & { isTTY?: boolean };
  /** Plain-line interval when not on a terminal. Default 2000 ms. */
  intervalMs?: number;
  /** What is counted (`records`, `keys`). Default `records`. */
  unit?: string;
  /** Clock (tests). Default `Date.now`. */
  now?: () => number;
}

export interface Progress {
  /** A message on its own line (kept apart from the bar). */
  line(text: string): void;
  /** `done` of `total` (unknown: undefined) in phase `what` ("sent", "tokenized", "re-wrapped"). */
  update(what: string, done: number, total?: number): void;
  /** Ends the bar (a newline on a terminal). */
  done(): void;
}

/** The status text: `tokenized 500/1000 records, 250/s, ETA 2s`. Exported for tests. */
export function progressText(what: string, done: number, total: number | undefined, rate: number, unit = 'records'): string {
  const eta = total !== undefined && rate > 0 && done < total ? Math.ceil((total - done) / rate) : undefined;
  return `${what} ${done}${total !== undefined ? `/${total}` : ''} ${unit}, ${Math.round(rate)}/s${eta !== undefined ? `, ETA ${formatSeconds(eta)}` : ''}`;
}

export function formatSeconds(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export function createProgress(o: ProgressOptions = {}): Progress {
  const stream = o.stream ?? process.stderr;
  const tty = (stream as { isTTY?: boolean }).isTTY === true;
  const now = o.now ?? Date.now;
  const interval = o.intervalMs ?? 2000;
  let lastLine = 0;
  let phase = '';
  let phaseStart = now();
  let phaseFrom = 0;
  let drawn = false;
  return {
    line(text) {
      if (drawn) stream.write('\n');
      drawn = false;
      stream.write(text + '\n');
    },
    update(what, done, total) {
      const t = now();
      if (what !== phase) {
        if (drawn) stream.write('\n');
        drawn = false;
        phase = what;
        phaseStart = t;
        phaseFrom = done;
        lastLine = 0;
      }
      const rate = (done - phaseFrom) / Math.max(0.001, (t - phaseStart) / 1000);
      const text = progressText(what, done, total, rate, o.unit);
      if (tty) {
        const width = 30;
        const pct = total ? Math.min(100, Math.floor((done / total) * 100)) : undefined;
        const filled = pct === undefined ? 0 : Math.round((pct / 100) * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct ?? '--'}% ${text}\x1b[K`);
        drawn = true;
      } else if (t - lastLine >= interval || (total !== undefined && done >= total)) {
        lastLine = t;
        stream.write(text + '\n');
      }
    },
    done() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
