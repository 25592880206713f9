import { parseArgs } from 'node:util';
import { buildDeps } from '../deps.ts';
import { createLogger } from '../logger.ts';
import { loadConfig } from '../config.ts';
import { LocalKeyEncryptionKeys } from '../vault/kek.ts';
import { countDataKeysByKek } from '../storage/repos/data-keys.ts';
import { claimJobByKey, completeJob, extendJobLock } from '../storage/repos/jobs.ts';
import { TASK_REENCRYPT } from '../services/key-rotation.ts';

/** `tessera keys …`: master-key and data-key rotation (docs/keys.md). Exit codes as in `main.ts`. */
export const KEYS_HELP = `tessera keys status [--json]
  Master-key (KEK) versions, how many data keys each wraps, data keys by state, the last data rotation.
tessera keys rotate [--json]
  Master-key rotation: sandbox adds a new version to <data dir>/master.key; with TESSERA_MASTER_KEY
  put the new version first yourself (v2:<new>,v1:<old>; docs/keys.md) and restart every process.
  Then every data key is re-wrapped under the active version, online. Ciphertexts do not change.
tessera keys rotate --data [--no-wait] [--json]
  Data rotation: new data keys for every tenant; every stored ciphertext is re-encrypted in the
  background by a resumable job, which the running serve/worker processes and this command (while
  it waits) take turns on. Waits and shows progress unless --no-wait (then the workers do it all).
  Old data keys are deleted only when nothing uses them.
tessera keys retire --version N [--json]
  Forget a master-key version; refused while it is active or wraps any data key.

Options:
  --json    Print exactly one JSON document on stdout (logs and progress go to stderr).
  -h, --help

Exit codes: 0 success, 1 failure, 2 bad usage.
`;

class Usage extends Error {}

/** The waiting CLI's lock on the rotation job, renewed every slice (~0.5 s): if the CLI dies, a worker takes over after this. */
const CLI_LOCK_MS = 10_000;
/** The CLI works on the rotation only when no worker has claimed the due job for this long. */
const CLI_IDLE_MS = 3_000;

/** Minimal progress line: rewritten on a terminal, plain lines (every few seconds) otherwise. */
function progressPrinter(json: boolean) {
  const tty = process.stderr.isTTY === true;
  let lastPlain = 0;
  let lastLine = '';
  let lastWaiting: boolean | undefined;
  return {
    update(p: { done: number; total: number; rewritten: number; recordsPerSecond: number; pass: number; waitingUntil: string | null }) {
      if (json) return;
      let line: string;
      if (p.waitingUntil) {
        const s = Math.max(0, Math.ceil((Date.parse(p.waitingUntil) - Date.now()) / 1000));
        line = `pass ${p.pass}: starts in ${s}s, once every process uses the new data keys (TESSERA_KEY_VERSION_TTL_S); ${p.rewritten} re-encrypted so far`;
      } else {
        const eta = p.recordsPerSecond > 0 ? Math.max(0, Math.ceil((p.total - p.done) / p.recordsPerSecond)) : undefined;
        line = `pass ${p.pass}: ${p.done}/${p.total} records examined, ${p.rewritten} re-encrypted, ${p.recordsPerSecond}/s${eta === undefined ? '' : `, ETA ${eta}s`}`;
      }
      if (tty) process.stderr.write(`\r\x1b[K${line}`);
      else {
        // Plain lines: at once when waiting starts or ends, then every 2 s while working (10 s while waiting) if changed.
        const waiting = p.waitingUntil !== null;
        const due = Date.now() - lastPlain >= (waiting ? 10_000 : 2_000);
        if (waiting !== lastWaiting || (due && line !== lastLine)) {
          lastPlain = Date.now();
          lastLine = line;
          process.stderr.write(line + '\n');
        }
        lastWaiting = waiting;
      }
    },
    end() {
      if (tty && !json) process.stderr.write('\n');
    },
  };
}

export async function keysCommand(sub: string | undefined, argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, data: { type: 'boolean' }, 'no-wait': { type: 'boolean' }, version: { type: 'string' } },
    }).values;
  } catch (err) {
    return usage(err instanceof Error ? err.message : String(err));
  }
  if (values.help || sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(KEYS_HELP);
    return 0;
  }
  if (sub !== 'status' && sub !== 'rotate' && sub !== 'retire') return usage(`unknown command: keys ${sub}`);
  const json = values.json === true;
  let version: number | undefined;
  if (sub === 'retire') {
    version = Number(values.version);
    if (typeof values.version !== 'string' || !Number.isInteger(version) || version < 1) return usage('--version N (a positive integer) is required.');
  }
  const config = loadConfig();
  const deps = await buildDeps({ config, logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel, process.stderr) });
  const rotation = deps.services.keyRotation;
  const out = (data: unknown, human: string) => process.stdout.write(json ? JSON.stringify(data) + '\n' : human + '\n');
  try {
    const kek = deps.vault.kek;
    if (sub === 'status') {
      const s = await rotation.status();
      out(s, [
        `Master key: active version ${s.masterKey.active}`,
        ...s.masterKey.versions.map((v) => `  v${v.version} (${v.id})${v.active ? ' active' : ''}: wraps ${v.dataKeys} data keys`),
        ...s.masterKey.missing.map((m) => `  ${m.id} NOT LOADED: wraps ${m.dataKeys} data keys (add that version to TESSERA_MASTER_KEY)`),
        `Data keys: ${s.dataKeys.map((d) => `${d.count} ${d.purpose}/${d.status}`).join(', ')}`,
        s.rotation ? `Last data rotation ${s.rotation.id}: ${s.rotation.status}, ${s.rotation.rewritten} re-encrypted` : 'No data rotation yet.',
      ].join('\n'));
      return 0;
    }
    if (sub === 'retire') {
      const target = kek.versions().find((v) => v.version === version);
      if (!target) throw new Error(`master-key version ${version} is not loaded here`);
      if (target.id === kek.active().id) throw new Error(`version ${version} is the active master key: rotate first`);
      const used = (await countDataKeysByKek(deps.db.kysely)).find((b) => b.kek_id === target.id)?.count ?? 0;
      if (used > 0) throw new Error(`version ${version} still wraps ${used} data keys: run 'tessera keys rotate' to re-wrap them first`);
      if (kek instanceof LocalKeyEncryptionKeys && kek.fileBacked) {
        kek.removeVersion(version!);
        out({ version, retired: true }, `Master-key version ${version} removed from ${kek.file}.`);
      } else {
        out({ version, retired: true, action: 'remove it from TESSERA_MASTER_KEY' }, `Nothing uses master-key version ${version}: remove v${version} from TESSERA_MASTER_KEY on every process.`);
      }
      return 0;
    }
    if (values.data) {
      const started = await rotation.startDataRotation();
      if (!json) process.stderr.write(`Data rotation ${started.id}: new data keys for ${started.tenants} tenants; ${started.total} ciphertexts to re-encrypt by the worker.\n`);
      if (values['no-wait']) {
        out({ ...started, status: 'running' }, `Started; follow it with 'tessera keys status'.`);
        return 0;
      }
      const bar = progressPrinter(json);
      const me = `cli-${process.pid}`;
      let held: Awaited<ReturnType<typeof claimJobByKey>>;
      for (;;) {
        // No worker took the job for CLI_IDLE_MS (no server running, or its worker stopped): do it here,
        // holding the job (lock renewed per slice) until the rotation is done. Workers get the first
        // turn because on SQLite a second writing process makes the server's transactions fail.
        held ??= await claimJobByKey(deps.db.kysely, `${TASK_REENCRYPT}:${started.id}`, me, CLI_LOCK_MS, Date.now(), CLI_IDLE_MS);
        let waitMs = 250;
        if (held) {
          const r = await rotation.process({ id: started.id }, held);
          if (!r) {
            await completeJob(deps.db.kysely, held.id, me);
            held = undefined;
          } else {
            if (!(await extendJobLock(deps.db.kysely, held.id, me, Date.now() + CLI_LOCK_MS))) held = undefined;
            waitMs = Math.min(250, Math.max(0, r.rescheduleAt - Date.now()));
          }
        }
        const p = await rotation.progress(started.id);
        if (!p) throw new Error('rotation vanished');
        bar.update(p);
        if (p.status === 'done') {
          bar.end();
          out(p, `Done: ${p.rewritten} ciphertexts re-encrypted, ${p.oldKeysDeleted} old data keys deleted${p.stuckTenants ? `, ${p.stuckTenants} tenants with unreadable rows kept their old keys` : ''}.`);
          return 0;
        }
        if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
      }
    }
    // Master-key rotation.
    let added: { version: number; id: string } | undefined;
    const pending = () => countDataKeysByKek(deps.db.kysely).then((b) => b.filter((x) => x.kek_id !== kek.active().id).reduce((n, x) => n + x.count, 0));
    if (kek instanceof LocalKeyEncryptionKeys && kek.fileBacked) {
      added = kek.addVersion();
    } else if ((await pending()) === 0) {
      throw new Error(
        'every data key is already wrapped by the active master-key version. To rotate: generate a key (openssl rand -base64 32), ' +
          `set TESSERA_MASTER_KEY=v${kek.active().version + 1}:<new>,${kek.versions().map((v) => `v${v.version}:<…>`).join(',')} on every process, restart them, then run this again`,
      );
    }
    const started = Date.now();
    let rewrapped = 0;
    for (let n = await deps.vault.rewrapBatch(500); n > 0; n = await deps.vault.rewrapBatch(500)) rewrapped += n;
    const left = await pending();
    const result = { activeVersion: kek.active().version, added: added ?? null, rewrapped, left, ms: Date.now() - started };
    out(result, `${added ? `New master-key version v${added.version} (${added.id}) is active. ` : ''}Re-wrapped ${rewrapped} data keys in ${result.ms} ms.${left ? ` ${left} could not be re-wrapped: see tessera keys status.` : ''}`);
    return left ? 1 : 0;
  } catch (err) {
    process.stderr.write(`tessera: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    await deps.close();
  }
}

function usage(message: string): number {
  process.stderr.write(`tessera: ${message}\nRun 'tessera keys --help' for usage.\n`);
  return 2;
}
