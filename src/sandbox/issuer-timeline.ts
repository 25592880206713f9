import type { Db } from '../storage/database.ts';
import { issuerSecondsSince } from '../storage/repos/dashboard.ts';

/** One second of one sandbox issuer's traffic. */
export interface IssuerSecond {
  second: number;
  accepted: number;
  throttled: number;
}

/**
 * Sandbox issuer traffic per second, for the dashboard's chart. On PostgreSQL the issuer meter
 * already writes every process's requests to `sandbox_issuer_seconds`, so it is read from there;
 * on SQLite (one process) the last `KEEP_S` seconds are kept in memory.
 */
export interface IssuerTimeline {
  record(bin: string, admitted: boolean): void;
  /** Per BIN, the seconds of the last `windowS` seconds that saw traffic, oldest first. */
  since(windowS: number): Promise<Map<string, IssuerSecond[]>>;
}

/** Seconds of history kept in memory. Default 10 minutes. */
const KEEP_S = 600;

export function createIssuerTimeline(db: Db, now: () => number = Date.now): IssuerTimeline {
  if (db.engine === 'postgres') {
    return {
      record() {},
      async since(windowS) {
        const from = Math.floor(now() / 1000) - windowS + 1;
        const out = new Map<string, IssuerSecond[]>();
        for (const r of await issuerSecondsSince(db.kysely, from)) {
          const list = out.get(r.bin) ?? [];
          list.push({ second: Number(r.second), accepted: Number(r.accepted), throttled: Number(r.throttled) });
          out.set(r.bin, list);
        }
        return out;
      },
    };
  }
  const bins = new Map<string, IssuerSecond[]>();
  return {
    record(bin, admitted) {
      const second = Math.floor(now() / 1000);
      let list = bins.get(bin);
      if (!list) bins.set(bin, (list = []));
      let last = list.at(-1);
      if (!last || last.second !== second) {
        list.push((last = { second, accepted: 0, throttled: 0 }));
        while (list.length > 0 && list[0]!.second <= second - KEEP_S) list.shift();
      }
      if (admitted) last.accepted++;
      else last.throttled++;
    },
    async since(windowS) {
      const from = Math.floor(now() / 1000) - windowS + 1;
      const out = new Map<string, IssuerSecond[]>();
      for (const [bin, list] of [...bins].sort(([a], [b]) => a.localeCompare(b))) {
        const recent = list.filter((s) => s.second >= from).map((s) => ({ ...s }));
        if (recent.length > 0) out.set(bin, recent);
      }
      return out;
    },
  };
}
