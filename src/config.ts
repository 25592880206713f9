import { resolve, join } from 'node:path';

/** Every setting Tessera reads, with its default. Built once from the environment in `deps.ts`. */
export interface Config {
  /** `PORT`. Default 8080. */
  port: number;
  /** `HOST`. Default 127.0.0.1. */
  host: string;
  /** `TESSERA_DATA_DIR`: the SQLite file and, in sandbox mode, the generated master key. Default `./data`. */
  dataDir: string;
  /** `DATABASE_URL`: a `postgres://` URL selects PostgreSQL. Default unset (embedded SQLite). */
  databaseUrl: string | undefined;
  /** `LOG_LEVEL`. Default `info`. */
  logLevel: string;
  /** `TESSERA_ENV`: `sandbox` (default) or `production` (requires `TESSERA_MASTER_KEY`). */
  env: string;
  /** `TESSERA_MASTER_KEY`: base64 of 32 bytes. Default: generated into the data dir in sandbox mode. */
  masterKey: string | undefined;
  /** `TESSERA_TEMP_TOKEN_TTL_S`: lifetime of temporary tokens. Default 900 (15 minutes). */
  tempTokenTtlMs: number;
  /** `TESSERA_RETRY_BASE_MS`: first retry delay of background work. Default 1000. */
  retryBaseMs: number;
  /** `TESSERA_RETRY_MAX_ATTEMPTS`: attempts before background work is dead. Default 15. */
  retryMaxAttempts: number;
  /** `TESSERA_WORKER_POLL_MS`: how often an idle worker looks for due jobs. Default 250. */
  workerPollMs: number;
  /** `TESSERA_PURGE_INTERVAL_S`: how often expired tokens and lapsed CVCs are erased. Default 60. */
  purgeIntervalMs: number;
  /** `TESSERA_SANDBOX_LATENCY_MS`: `0` or a range like `1000-3000`. Default 0. */
  sandboxLatency: { min: number; max: number };
  /** `TESSERA_SANDBOX_ISSUER_TPS`: requests per second each simulated issuer (BIN) accepts; 0 = no cap. Default 0. */
  sandboxIssuerTps: number;
  /** `TESSERA_SANDBOX_SUSPEND_LATER_MS`: when the issuer suspends tokens of a `suspended_later` test card. Default 60000. */
  sandboxSuspendLaterMs: number;
  /** `TESSERA_NOTIFY_TIMEOUT_MS`: time a merchant's endpoint has to answer a notification. Default 10000. */
  notifyTimeoutMs: number;
  /** `TESSERA_NOTIFY_PER_DESTINATION`: notification attempts one process has in flight to one destination (scheme, host, port). Default 4. */
  notifyPerDestination: number;
  /** `TESSERA_WORKER_CONCURRENCY`: jobs one worker runs at once. Default 16. */
  workerConcurrency: number;
  /** `TESSERA_PUBLIC_URL`: where clients reach Tessera (the base of an order's `pay_link`). Default `http://HOST:PORT`. */
  publicUrl: string;
  /** `TESSERA_BATCH_ISSUER_TPS`: the cap each issuer (BIN) accepts, requests/s; 0 = unknown (unpaced until a 429 teaches one). Default: `TESSERA_SANDBOX_ISSUER_TPS`. */
  batchIssuerTps: number;
  /** `TESSERA_BATCH_SHARE_PCT`: the share of a known issuer cap batches use; the rest is kept for the interactive API. Default 90. */
  batchSharePct: number;
  /** `TESSERA_BATCH_CONCURRENCY`: batch TSP calls in flight at once per process (with a slow network, raise it to about rate × latency). Default 64. */
  batchConcurrency: number;
  /** `TESSERA_BATCH_LEASE_MS`: a batch record claimed by a process that stops answering is taken back after this. Default 30000. */
  batchLeaseMs: number;
  /** `TESSERA_PG_POOL_SIZE`: PostgreSQL connections per process. Default 20. */
  pgPoolSize: number;
  /** `TESSERA_BATCH_RECORDS_PER_S`: batch-file records each issuer gets processed per second (new issuers). Default 5000. */
  batchRecordsPerS: number;
  /** `TESSERA_BATCH_INBOX`: drop folder of issuers' batch files (answered with `…_OUT.json`). Default unset (off). */
  batchInbox: string | undefined;
  /** `TESSERA_BATCH_INBOX_POLL_MS`: how often the drop folder is scanned. Default 2000. */
  batchInboxPollMs: number;
  /** `TESSERA_AUTH_FAILURES_MAX`: failed credential attempts per client IP and presented identity (public key, issuer) per window before 429; ten times this per IP alone. Default 10. */
  authFailuresMax: number;
  /** `TESSERA_AUTH_FAILURES_WINDOW_S`: the window of `authFailuresMax`. Default 900 (15 minutes). */
  authFailuresWindowMs: number;
  /** `TESSERA_WORKER`: `on` (default) runs the job worker inside `tessera serve`; `off` makes an API-only process (scale-out beside `tessera worker`, PostgreSQL). */
  worker: 'on' | 'off';
  /** `TESSERA_METRICS_PORT`: `tessera worker` serves `/metrics`, `/health` and `/ready` on this port (HOST). Default unset (no listener). */
  metricsPort: number | undefined;
  /** `TESSERA_JOB_LOCK_MS`: a job claimed by a process that died is run again after this. Default 60000. */
  jobLockMs: number;
  /** `TESSERA_IDEMPOTENCY_LOCK_MS`: a request holding an `Idempotency-Key` that died (its process killed) lets a retry take the key over after this. Default 60000. */
  idempotencyLockMs: number;
  /** `TESSERA_TRUST_PROXY`: comma-separated addresses/CIDRs of reverse proxies whose `X-Forwarded-For` names the client (auth throttling keys on it). Default unset (the peer address). */
  trustProxy: string | undefined;
  /** `TESSERA_DASHBOARD_SESSION_TTL_S`: how long an operator's dashboard session lasts. Default 28800 (8 hours). */
  dashboardSessionTtlMs: number;
  /** `TESSERA_ELEMENTS_RATE_MAX`: tokenizations per client IP and publishable key (hosted fields), and payments per IP and order (hosted payment page), per window before 429. Default 30. */
  elementsRateMax: number;
  /** `TESSERA_ELEMENTS_RATE_WINDOW_S`: the window of `elementsRateMax`. Default 60. */
  elementsRateWindowMs: number;
  /** `TESSERA_KEY_VERSION_TTL_S`: how long a process trusts a tenant's active data-key version from memory; a data rotation waits twice this before deleting old versions. Default 60. */
  keyVersionTtlMs: number;
  /** `TESSERA_JWKS_GRACE_S`: how long a rotated-out `/cof/v1/keys` or `/banking/v1/keys` key still decrypts before it is retired automatically. Default 604800 (7 days). */
  jwksGraceMs: number;
  /** `TESSERA_KEY_ROTATION_BATCH`: rows re-encrypted per step of a data rotation. Default 200. */
  keyRotationBatch: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`${name} must be an integer ≥ ${min}.`);
  return value;
}

function range(env: NodeJS.ProcessEnv, name: string): { min: number; max: number } {
  const raw = env[name] ?? '0';
  const match = /^(\d+)(?:-(\d+))?$/.exec(raw.trim());
  if (!match) throw new ConfigError(`${name} must be a number of ms or a range like 1000-3000.`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (max < min) throw new ConfigError(`${name}: the range must go from low to high.`);
  return { min, max };
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const dataDir = resolve(env.TESSERA_DATA_DIR || './data');
  return {
    port: int(env, 'PORT', 8080),
    host: env.HOST || '127.0.0.1',
    dataDir,
    databaseUrl: env.DATABASE_URL || undefined,
    logLevel: env.LOG_LEVEL || 'info',
    env: env.TESSERA_ENV || 'sandbox',
    masterKey: env.TESSERA_MASTER_KEY || undefined,
    tempTokenTtlMs: int(env, 'TESSERA_TEMP_TOKEN_TTL_S', 900, 1) * 1000,
    retryBaseMs: int(env, 'TESSERA_RETRY_BASE_MS', 1000, 1),
    retryMaxAttempts: int(env, 'TESSERA_RETRY_MAX_ATTEMPTS', 15, 1),
    workerPollMs: int(env, 'TESSERA_WORKER_POLL_MS', 250, 1),
    purgeIntervalMs: int(env, 'TESSERA_PURGE_INTERVAL_S', 60, 1) * 1000,
    sandboxLatency: range(env, 'TESSERA_SANDBOX_LATENCY_MS'),
    sandboxIssuerTps: int(env, 'TESSERA_SANDBOX_ISSUER_TPS', 0),
    sandboxSuspendLaterMs: int(env, 'TESSERA_SANDBOX_SUSPEND_LATER_MS', 60_000),
    notifyTimeoutMs: int(env, 'TESSERA_NOTIFY_TIMEOUT_MS', 10_000, 1),
    notifyPerDestination: int(env, 'TESSERA_NOTIFY_PER_DESTINATION', 4, 1),
    workerConcurrency: int(env, 'TESSERA_WORKER_CONCURRENCY', 16, 1),
    publicUrl: publicUrl(env),
    batchIssuerTps: int(env, 'TESSERA_BATCH_ISSUER_TPS', int(env, 'TESSERA_SANDBOX_ISSUER_TPS', 0)),
    batchSharePct: Math.min(100, int(env, 'TESSERA_BATCH_SHARE_PCT', 90, 1)),
    batchConcurrency: int(env, 'TESSERA_BATCH_CONCURRENCY', 64, 1),
    batchLeaseMs: int(env, 'TESSERA_BATCH_LEASE_MS', 30_000, 100),
    pgPoolSize: int(env, 'TESSERA_PG_POOL_SIZE', 20, 1),
    batchRecordsPerS: int(env, 'TESSERA_BATCH_RECORDS_PER_S', 5000, 1),
    batchInbox: env.TESSERA_BATCH_INBOX ? resolve(env.TESSERA_BATCH_INBOX) : undefined,
    batchInboxPollMs: int(env, 'TESSERA_BATCH_INBOX_POLL_MS', 2000, 10),
    authFailuresMax: int(env, 'TESSERA_AUTH_FAILURES_MAX', 10, 1),
    authFailuresWindowMs: int(env, 'TESSERA_AUTH_FAILURES_WINDOW_S', 900, 1) * 1000,
    worker: onOff(env, 'TESSERA_WORKER'),
    metricsPort: env.TESSERA_METRICS_PORT ? int(env, 'TESSERA_METRICS_PORT', 0, 1) : undefined,
    jobLockMs: int(env, 'TESSERA_JOB_LOCK_MS', 60_000, 100),
    idempotencyLockMs: int(env, 'TESSERA_IDEMPOTENCY_LOCK_MS', 60_000, 100),
    trustProxy: env.TESSERA_TRUST_PROXY?.trim() || undefined,
    dashboardSessionTtlMs: int(env, 'TESSERA_DASHBOARD_SESSION_TTL_S', 28_800, 1) * 1000,
    elementsRateMax: int(env, 'TESSERA_ELEMENTS_RATE_MAX', 30, 1),
    elementsRateWindowMs: int(env, 'TESSERA_ELEMENTS_RATE_WINDOW_S', 60, 1) * 1000,
    keyVersionTtlMs: int(env, 'TESSERA_KEY_VERSION_TTL_S', 60, 1) * 1000,
    jwksGraceMs: int(env, 'TESSERA_JWKS_GRACE_S', 604_800, 1) * 1000,
    keyRotationBatch: int(env, 'TESSERA_KEY_ROTATION_BATCH', 200, 1),
  };
}

export function sqlitePath(config: Config): string {
  return join(config.dataDir, 'tessera.db');
}

function publicUrl(env: NodeJS.ProcessEnv): string {
  const raw = env.TESSERA_PUBLIC_URL || `http://${env.HOST || '127.0.0.1'}:${env.PORT || '8080'}`;
  if (!/^https?:\/\/[^\s/]+/.test(raw)) throw new ConfigError('TESSERA_PUBLIC_URL must be an http(s) URL.');
  return raw.replace(/\/+$/, '');
}

function onOff(env: NodeJS.ProcessEnv, name: string): 'on' | 'off' {
  const raw = (env[name] ?? 'on').trim().toLowerCase();
  if (raw === 'on' || raw === '') return 'on';
  if (raw === 'off') return 'off';
  throw new ConfigError(`${name} must be on or off.`);
}
