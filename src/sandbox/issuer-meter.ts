import type { Db } from '../storage/database.ts';
import { meterSandboxIssuerRequest, sandboxIssuerStats } from '../storage/repos/sandbox-issuers.ts';

/** What `GET /sandbox/v1/stats` shows per issuer (BIN): every request, the 429s, and the busiest one-second window. */
export interface IssuerStats {
  /** Requests received, throttled ones included. */
  requests: number;
  /** Requests answered 429 (over the cap). */
  throttled: number;
  /** The most requests accepted in one calendar second. */
  maxPerSecond: number;
}

/**
 * The sandbox issuers' rate cap and traffic meter. Each issuer (BIN) accepts `cap` requests per
 * second (a token bucket: bursts up to `cap`), 0 = no cap. On SQLite Tessera is one process and the
 * state lives in memory; on PostgreSQL it lives in the database, so the cap holds across every API
 * and worker process and the stats count all of them.
 */
export interface IssuerMeter {
  /** Counts a request; false when it is over the issuer's cap (answer 429). */
  admit(bin: string): Promise<boolean>;
  stats(): Promise<Record<string, IssuerStats>>;
}

export function createIssuerMeter(db: Db, cap: number): IssuerMeter {
  return db.engine === 'postgres' ? sharedMeter(db, cap) : memoryMeter(cap);
}

function memoryMeter(cap: number): IssuerMeter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const meters = new Map<string, IssuerStats & { second: number; inSecond: number }>();
  return {
    async admit(bin) {
      const now = Date.now();
      let ok = true;
      if (cap > 0) {
        const b = buckets.get(bin) ?? { tokens: cap, at: now };
        b.tokens = Math.min(cap, b.tokens + (Math.max(0, now - b.at) / 1000) * cap);
        b.at = now;
        buckets.set(bin, b);
        ok = b.tokens >= 1;
        if (ok) b.tokens -= 1;
      }
      const second = Math.floor(now / 1000);
      const m = meters.get(bin) ?? { requests: 0, throttled: 0, maxPerSecond: 0, second, inSecond: 0 };
      meters.set(bin, m);
      m.requests++;
      if (!ok) {
        m.throttled++;
        return false;
      }
      if (m.second !== second) {
        m.second = second;
        m.inSecond = 0;
      }
      m.inSecond++;
      m.maxPerSecond = Math.max(m.maxPerSecond, m.inSecond);
      return true;
    },
    async stats() {
      const out: Record<string, IssuerStats> = {};
      for (const [bin, m] of [...meters].sort(([a], [b]) => a.localeCompare(b))) {
        out[bin] = { requests: m.requests, throttled: m.throttled, maxPerSecond: m.maxPerSecond };
      }
      return out;
    },
  };
}

function sharedMeter(db: Db, cap: number): IssuerMeter {
  return {
    admit: (bin) => meterSandboxIssuerRequest(db.kysely, bin, cap, Date.now()),
    async stats() {
      const out: Record<string, IssuerStats> = {};
      for (const r of await sandboxIssuerStats(db.kysely)) {
        out[r.bin] = { requests: r.accepted + r.throttled, throttled: r.throttled, maxPerSecond: r.maxPerSecond };
      }
      return out;
    },
  };
}
