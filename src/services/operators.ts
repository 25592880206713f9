import { createHash, createHmac, randomBytes, scrypt, timingSafeEqual, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { Db } from '../storage/database.ts';
import {
  deleteOperatorSession,
  disableOperator,
  findLiveSession,
  findOperatorByEmail,
  insertOperator,
  insertOperatorSession,
  purgeExpiredSessions,
} from '../storage/repos/operators.ts';

const scryptAsync = promisify(scrypt) as (password: string, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

/**
 * scrypt parameters of new password hashes: N = 2^17, r = 8, p = 1 (128 MiB, OWASP's first
 * choice for scrypt), a 16-byte random salt per operator, a 32-byte hash. Stored with the hash, so
 * they can be raised later without breaking existing operators.
 */
export const SCRYPT = { N: 2 ** 17, r: 8, p: 1, keyLength: 32 } as const;

/** Shortest password `admin create` accepts. */
export const MIN_PASSWORD_LENGTH = 12;

const b64 = (b: Buffer) => b.toString('base64url');

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, maxmem: 256 * SCRYPT.N * SCRYPT.r });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${b64(salt)}$${b64(hash)}`;
}

/** Timing-safe check of a password against a stored `scrypt$…` hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  const N = Number(n);
  const actual = await scryptAsync(password, Buffer.from(salt, 'base64url'), expected.length, { N, r: Number(r), p: Number(p), maxmem: 256 * N * Number(r) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A strong generated password (144 random bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export interface OperatorServiceDeps {
  db: Db;
  now: () => number;
  /** Keys the CSRF tokens (HMAC of the session id). Derived from the master key. */
  csrfKey: KeyObject;
  /** Session lifetime. `TESSERA_DASHBOARD_SESSION_TTL_S`, default 8 hours. */
  sessionTtlMs: number;
}

export interface OperatorSession {
  operatorId: string;
  email: string;
  /** The synchronizer token every state-changing form of this session must carry. */
  csrf: string;
  expiresAt: number;
}

export type LoginOutcome = { ok: true; sessionId: string; expiresAt: number } | { ok: false };

const EMAIL = /^[^\s@<>"']{1,64}@[^\s@<>"']{1,190}\.[^\s@<>"']{2,63}$/;

export function normalizeEmail(raw: string): string | undefined {
  const email = raw.trim().toLowerCase();
  return EMAIL.test(email) ? email : undefined;
}

/** Operators of the dashboard: creation, password login, server-side sessions. */
export function createOperatorService(deps: OperatorServiceDeps) {
  const k = deps.db.kysely;
  // Unknown emails still cost one scrypt, so response time does not tell which emails exist.
  let decoy: Promise<string> | undefined;
  const csrfOf = (sessionId: string) => createHmac('sha256', deps.csrfKey).update(`csrf:${sessionId}`).digest('base64url');

  return {
    async create(input: { email: string; password: string }): Promise<{ id: string; email: string } | { error: 'invalid_email' | 'weak_password' | 'email_taken' }> {
      const email = normalizeEmail(input.email);
      if (!email) return { error: 'invalid_email' };
      if (input.password.length < MIN_PASSWORD_LENGTH) return { error: 'weak_password' };
      const id = 'op_' + randomBytes(12).toString('hex');
      const inserted = await insertOperator(k, { id, email, password_hash: await hashPassword(input.password), status: 'active', created_at: deps.now() });
      return inserted ? { id, email } : { error: 'email_taken' };
    },

    /** Checks email + password; on success opens a session and returns its id (for the cookie only). */
    async login(rawEmail: string, password: string): Promise<LoginOutcome> {
      const email = normalizeEmail(rawEmail);
      const op = email ? await findOperatorByEmail(k, email) : undefined;
      if (!op || op.status !== 'active') {
        await verifyPassword(password, await (decoy ??= hashPassword(generatePassword())));
        return { ok: false };
      }
      if (!(await verifyPassword(password, op.password_hash))) return { ok: false };
      const now = deps.now();
      const sessionId = randomBytes(32).toString('base64url');
      const expiresAt = now + deps.sessionTtlMs;
      await insertOperatorSession(k, { id_hash: sha256(sessionId), operator_id: op.id, created_at: now, expires_at: expiresAt });
      await purgeExpiredSessions(k, now);
      return { ok: true, sessionId, expiresAt };
    },

    /** The live session behind a cookie value, or undefined (unknown, forged, expired, operator disabled). */
    async session(sessionId: string | undefined): Promise<OperatorSession | undefined> {
      if (!sessionId || !/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return undefined;
      const s = await findLiveSession(k, sha256(sessionId), deps.now());
      return s ? { operatorId: s.operator_id, email: s.email, csrf: csrfOf(sessionId), expiresAt: s.expires_at } : undefined;
    },

    /** Timing-safe comparison of a submitted CSRF token with the session's. */
    checkCsrf(sessionId: string, submitted: unknown): boolean {
      if (typeof submitted !== 'string') return false;
      const a = Buffer.from(csrfOf(sessionId));
      const b = Buffer.from(submitted);
      return a.length === b.length && timingSafeEqual(a, b);
    },

    /** Stops an operator signing in and ends their sessions at once. False: no such operator. */
    async disable(rawEmail: string): Promise<boolean> {
      const email = normalizeEmail(rawEmail);
      return email ? k.transaction().execute((trx) => disableOperator(trx, email)) : false;
    },

    async logout(sessionId: string): Promise<void> {
      await deleteOperatorSession(k, sha256(sessionId));
    },
  };
}

export type OperatorService = ReturnType<typeof createOperatorService>;
