import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Db } from '../storage/database.ts';
import type { JobRow } from '../storage/repos/jobs.ts';
import { enqueueJob } from '../storage/repos/jobs.ts';
import {
  CIPHERTEXT_COLUMNS,
  countCiphertexts,
  findKeyRotation,
  findLatestKeyRotation,
  findRunningKeyRotation,
  insertKeyRotation,
  nextCiphertexts,
  replaceCiphertexts,
  updateKeyRotation,
  type CiphertextColumn,
} from '../storage/repos/ciphertexts.ts';
import {
  countDataKeysByKek,
  countDataKeysByStatus,
  deleteDataKey,
  listActiveDataVersions,
  listAllRetiringDataKeys,
  listDataTenants,
} from '../storage/repos/data-keys.ts';
import type { KeyRotationsTable } from '../storage/schema.ts';
import { issuerTenant } from '../domain/issuer.ts';
import { VaultIntegrityError } from '../vault/cipher.ts';
import { SYSTEM_TENANT, type Vault } from '../vault/vault.ts';
import { cardAad, cardCvcAad } from './customers.ts';
import { tokenAad, tokenCvcAad } from './tokens.ts';
import { networkTokenAad, requestAad } from './network-tokens.ts';
import { idempotencyAad } from './idempotency.ts';
import { recordAad } from './batches.ts';
import { webhookSecretAad } from './merchants.ts';
import { issuerSecretAad } from './issuers.ts';
import { consumerAad, issuerCardAad } from './issuer-cards.ts';
import { batchRecordAad } from './issuer-batch.ts';

export const TASK_REENCRYPT = 'keys.reencrypt';
export const TASK_RETIRE_JWKS = 'keys.retire_jwks';

/** Where a pass of a data rotation stands (persisted in `key_rotations.state`). */
interface PassState {
  pass: number;
  /** Index into `CIPHERTEXT_COLUMNS`. */
  col: number;
  cursor: (string | number)[] | null;
  passStartedAt: number;
  passRewritten: number;
  /** Tenants with ciphertexts that no longer decrypt (e.g. shredded meanwhile): their old keys are kept. */
  stuck: Record<string, number>;
}

export interface KeyRotationDeps {
  db: Db;
  vault: Vault;
  log: Logger;
  now: () => number;
  nudge: () => void;
  /** Rows read per step. Default 200. */
  batchSize: number;
  /** How long one job run works before yielding the worker. Default 500 ms. */
  sliceMs?: number;
}

/** The AAD each column's ciphertexts were sealed with (the same functions the services use). */
function aadOf(c: CiphertextColumn, r: Record<string, unknown>): string {
  const s = (k: string) => String(r[k]);
  switch (`${c.table}.${c.column}`) {
    case 'merchants.webhook_secret_ct': return webhookSecretAad(s('id'));
    case 'cards.card_ct': return cardAad(s('id'));
    case 'cards.cvc_ct': return cardCvcAad(s('id'));
    case 'tokens.card_ct': return tokenAad(s('token_hash'));
    case 'tokens.cvc_ct': return tokenCvcAad(s('token_hash'));
    case 'network_tokens.card_ct': return networkTokenAad(s('id'));
    case 'network_token_requests.payload_ct': return requestAad(s('id'));
    case 'batch_records.card_ct': return recordAad(s('batch_pk'), s('row_id'));
    case 'idempotency_keys.response_ct': return idempotencyAad(s('merchant_id'), s('key'));
    case 'issuers.webhook_secret_ct': return issuerSecretAad(s('id'));
    case 'issuer_consumers.personal_ct': return consumerAad(s('issuer_id'), s('id'));
    case 'issuer_cards.card_ct': return issuerCardAad(s('issuer_id'), s('id'));
    case 'issuer_batch_records.request_ct':
      return batchRecordAad({ issuerId: s('issuer_id'), batchId: s('batch_id'), seqNumber: Number(r.seq_number) }, Number(r.idx));
    default: throw new Error(`no AAD known for ${c.table}.${c.column}`);
  }
}

/** The vault tenant of a row: issuer tables name the issuer, the vault keys it as `issuer:<id>`. */
function tenantOf(c: CiphertextColumn, value: string): string {
  return c.table.startsWith('issuer') ? issuerTenant(value) : value;
}

const versionOf = (ct: string) => Number(ct.slice(1, ct.indexOf('.')));

/**
 * Key rotation: master-key re-wrapping (`tessera keys rotate`) and data rotation (`… --data`): new
 * data keys for every tenant, then every stored ciphertext re-encrypted under them by the job
 * worker in small, resumable steps while the API serves. Old data keys are deleted only after a
 * full pass (begun when no process can still be encrypting under them) finds nothing to re-encrypt.
 */
export function createKeyRotationService(deps: KeyRotationDeps) {
  const k = deps.db.kysely;
  const sliceMs = deps.sliceMs ?? 500;
  /** No process encrypts under an old version after `started_at + ttl`; a pass begun after twice that sees every straggler. */
  const quietAfter = (r: KeyRotationsTable) => Number(r.started_at) + 2 * deps.vault.activeVersionTtlMs;

  async function finish(r: KeyRotationsTable, state: PassState): Promise<void> {
    const retired: { tenant: string; version: number }[] = [];
    for (const key of await listAllRetiringDataKeys(k)) {
      if (state.stuck[key.tenant_id]) continue;
      await deleteDataKey(k, key.tenant_id, 'data', key.version);
      retired.push({ tenant: key.tenant_id, version: key.version });
    }
    const now = deps.now();
    await updateKeyRotation(k, r.id, { status: 'done', state: JSON.stringify({ ...state, retired: retired.length }), updated_at: now, finished_at: now });
    deps.log.info({ rotation: r.id, rewritten: Number(r.rewritten), oldKeysDeleted: retired.length, stuckTenants: Object.keys(state.stuck).length }, 'data rotation finished');
  }

  return {
    /** Starts a data rotation: new data keys now, re-encryption by the worker. Refuses while one runs. */
    async startDataRotation(): Promise<{ id: string; tenants: number; total: number }> {
      const running = await findRunningKeyRotation(k);
      if (running) throw new Error(`data rotation ${running.id} is still running: wait for it (tessera keys status)`);
      const now = deps.now();
      const tenants = await listDataTenants(k, SYSTEM_TENANT);
      // Not in a transaction: on SQLite a transaction that reads and then writes fails at once
      // (SQLITE_BUSY_SNAPSHOT) when another process wrote meanwhile. A crash between the new version
      // and the old one's demotion is harmless: the newest active version is the one used.
      for (const tenant of tenants) await deps.vault.rotateDataKey(tenant, now);
      let total = 0;
      for (const c of CIPHERTEXT_COLUMNS) total += await countCiphertexts(k, c);
      const id = `rot_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
      const state: PassState = { pass: 1, col: 0, cursor: null, passStartedAt: 0, passRewritten: 0, stuck: {} };
      await k.transaction().execute(async (trx) => {
        await insertKeyRotation(trx, { id, kind: 'data', status: 'running', total, done: 0, rewritten: 0, state: JSON.stringify(state), started_at: now, updated_at: now, finished_at: null });
        // Waits one cache lifetime: by then every process encrypts under the new versions.
        await enqueueJob(trx, { task: TASK_REENCRYPT, payload: { id }, uniqueKey: `${TASK_REENCRYPT}:${id}`, runAt: now + deps.vault.activeVersionTtlMs, maxAttempts: 1000 }, now);
      });
      deps.nudge();
      deps.log.info({ rotation: id, tenants: tenants.length, total }, 'data rotation started');
      return { id, tenants: tenants.length, total };
    },

    /** The job: re-encrypts for one slice of time, saves where it is, and asks to run again. */
    async process(payload: unknown, _job?: JobRow): Promise<void | { rescheduleAt: number }> {
      const id = (payload as { id?: unknown } | null)?.id;
      if (typeof id !== 'string') return;
      const r = await findKeyRotation(k, id);
      if (!r || r.status !== 'running') return;
      const state = JSON.parse(r.state) as PassState;
      // A pass must not begin before its time (the finish rule trusts passStartedAt).
      if (state.passStartedAt > deps.now()) return { rescheduleAt: state.passStartedAt };
      if (state.passStartedAt === 0) state.passStartedAt = deps.now();
      let done = Number(r.done);
      let rewritten = Number(r.rewritten);
      let active = await listActiveDataVersions(k);
      const until = Date.now() + sliceMs;
      while (Date.now() < until) {
        const c = CIPHERTEXT_COLUMNS[state.col];
        if (!c) {
          if (state.passStartedAt >= quietAfter(r) && state.passRewritten === 0) return finish(r, state);
          const startAt = Math.max(deps.now(), quietAfter(r));
          Object.assign(state, { pass: state.pass + 1, col: 0, cursor: null, passStartedAt: startAt, passRewritten: 0, stuck: {} });
          done = 0;
          await updateKeyRotation(k, id, { state: JSON.stringify(state), done, updated_at: deps.now() });
          if (startAt > deps.now()) return { rescheduleAt: startAt };
          continue;
        }
        const rows = await nextCiphertexts(k, c, state.cursor, deps.batchSize);
        if (rows.length === 0) {
          state.col++;
          state.cursor = null;
          continue;
        }
        // Decrypt and re-encrypt first, then write the batch and its progress in one short transaction.
        const writes: { key: (string | number)[]; from: string; to: string }[] = [];
        let reloaded = false;
        for (const row of rows) {
          const tenant = tenantOf(c, row.tenant);
          if (!active.has(tenant) && !reloaded) {
            // A tenant created since this run began.
            active = await listActiveDataVersions(k);
            reloaded = true;
          }
          const target = active.get(tenant);
          if (target === undefined) {
            state.stuck[tenant] = (state.stuck[tenant] ?? 0) + 1;
            continue;
          }
          if (versionOf(row.ct) === target) continue;
          const aad = aadOf(c, row.row);
          try {
            const fresh = await deps.vault.encrypt(tenant, await deps.vault.decrypt(tenant, row.ct, aad), aad);
            if (versionOf(fresh) === target) writes.push({ key: row.key, from: row.ct, to: fresh });
            else {
              // A stale in-memory active version: forget it, and make this pass unclean so another follows.
              deps.vault.forgetTenant(tenant);
              state.passRewritten++;
            }
          } catch (err) {
            if (!(err instanceof VaultIntegrityError)) throw err;
            state.stuck[tenant] = (state.stuck[tenant] ?? 0) + 1;
          }
        }
        done += rows.length;
        state.cursor = rows[rows.length - 1]!.key;
        await k.transaction().execute(async (trx) => {
          // Only rows that still hold what was read (a concurrent change wins; the next pass sees it).
          const n = await replaceCiphertexts(trx, c, writes);
          rewritten += n;
          state.passRewritten += n;
          await updateKeyRotation(trx, id, { state: JSON.stringify(state), done, rewritten, updated_at: deps.now() });
        });
      }
      return { rescheduleAt: deps.now() };
    },

    /** A rotation's progress (the latest one without `id`). */
    async progress(id?: string) {
      const r = id
        ? await findKeyRotation(k, id)
        : await findLatestKeyRotation(k);
      if (!r) return undefined;
      const state = JSON.parse(r.state) as PassState & { retired?: number };
      // Running: the rate of the current pass. Done: re-encrypted over the whole rotation (including its waits).
      const since = r.status === 'running' && state.passStartedAt > 0 && state.passStartedAt <= deps.now() ? state.passStartedAt : Number(r.started_at);
      const elapsedS = Math.max(0.001, ((r.finished_at ?? deps.now()) - since) / 1000);
      // A pass that has not begun waits for every process's key cache (TESSERA_KEY_VERSION_TTL_S).
      const begins = state.passStartedAt === 0 ? Number(r.started_at) + deps.vault.activeVersionTtlMs : state.passStartedAt;
      return {
        id: r.id,
        status: r.status as 'running' | 'done',
        pass: state.pass,
        waitingUntil: r.status === 'running' && begins > deps.now() ? new Date(begins).toISOString() : null,
        total: Number(r.total),
        done: Number(r.done),
        rewritten: Number(r.rewritten),
        recordsPerSecond: Math.round((r.status === 'done' ? Number(r.rewritten) : Number(r.done)) / elapsedS),
        stuckTenants: Object.keys(state.stuck).length,
        oldKeysDeleted: state.retired ?? 0,
        startedAt: new Date(Number(r.started_at)).toISOString(),
        finishedAt: r.finished_at === null ? null : new Date(Number(r.finished_at)).toISOString(),
      };
    },

    /** `tessera keys status`: master-key versions and what each wraps; data-key versions by state. */
    async status() {
      const byKek = await countDataKeysByKek(k);
      const loaded = deps.vault.kek.versions();
      const active = deps.vault.kek.active();
      const versions = loaded.map((v) => ({ version: v.version, id: v.id, active: v.id === active.id, dataKeys: byKek.find((b) => b.kek_id === v.id)?.count ?? 0 }));
      const missing = byKek.filter((b) => !loaded.some((v) => v.id === b.kek_id)).map((b) => ({ id: b.kek_id, dataKeys: b.count }));
      return { masterKey: { active: active.version, versions, missing }, dataKeys: await countDataKeysByStatus(k), rotation: (await this.progress()) ?? null };
    },
  };
}

export type KeyRotationService = ReturnType<typeof createKeyRotationService>;
