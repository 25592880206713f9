import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { open, seal } from './cipher.ts';
import { masterKeyFrom, MasterKeyError, type MasterKey } from './master-key.ts';

/** One version of the key-encryption key (KEK). `id` is its key-check value (never the key). */
export interface KekVersion {
  version: number;
  id: string;
}

/**
 * The KMS interface: whatever holds the master key (KEK). Tessera only ever asks it to wrap and
 * unwrap 32-byte data keys; the KEK itself need never leave it. The default implementation is
 * `LocalKeyEncryptionKeys` (env or data-dir file); docs/keys.md shows how AWS KMS, GCP KMS or
 * Vault transit would implement it.
 */
export interface KeyEncryptionKeys {
  /** The version new wraps use. */
  active(): KekVersion;
  /** Every version this process can unwrap with, newest first. */
  versions(): KekVersion[];
  /** Wraps a data key under the active version; `aad` binds it to its `data_keys` row. */
  wrap(key: Buffer, aad: string): Promise<{ kekId: string; wrapped: string }>;
  /** Unwraps with the version named by `kekId`; throws `UnknownKekError` if that version is not available here. */
  unwrap(kekId: string, wrapped: string, aad: string): Promise<Buffer>;
  /**
   * For installations older than key versions: the secret the purpose-bound keys (merchant JWTs,
   * audit chain, PAR, service-key seal …) were derived from, i.e. the version-1 master key. A KMS
   * that never exports key material returns undefined and a random root secret is created instead.
   */
  legacyRootSecret?(): Buffer | undefined;
}

export class UnknownKekError extends Error {
  override name = 'UnknownKekError';
  constructor(kekId: string) {
    super(`data key wrapped by master key ${kekId}, which is not loaded here: add that version to TESSERA_MASTER_KEY`);
  }
}

/** `TESSERA_MASTER_KEY` / `master.key` parsed: the first entry is the active version. */
export interface ParsedMasterKeys {
  keys: { version: number; key: MasterKey }[];
}

/**
 * Parses `v3:<base64>,v2:<base64>,v1:<base64>` (commas or newlines; the first is active and must be
 * the highest version) or a bare `<base64>` (the single-key format: version 1).
 */
export function parseMasterKeys(text: string): ParsedMasterKeys {
  const items = text.split(/[,\n]/).map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new MasterKeyError('TESSERA_MASTER_KEY is empty.');
  if (items.length === 1 && !/^v\d+:/.test(items[0]!)) {
    return { keys: [{ version: 1, key: masterKeyFrom(Buffer.from(items[0]!, 'base64')) }] };
  }
  const keys: ParsedMasterKeys['keys'] = [];
  for (const item of items) {
    const m = /^v(\d{1,6}):(\S+)$/.exec(item);
    if (!m) throw new MasterKeyError('TESSERA_MASTER_KEY must be `vN:<base64>` entries separated by commas (the first is active).');
    const version = Number(m[1]);
    if (version < 1 || keys.some((k) => k.version === version)) throw new MasterKeyError(`TESSERA_MASTER_KEY names version ${version} twice (or version 0).`);
    keys.push({ version, key: masterKeyFrom(Buffer.from(m[2]!, 'base64')) });
  }
  if (keys.some((k) => k.version > keys[0]!.version)) {
    throw new MasterKeyError('TESSERA_MASTER_KEY: the first (active) version must be the highest.');
  }
  return { keys };
}

export function formatMasterKeys(keys: { version: number; key: MasterKey }[], separator: string): string {
  return keys.map((k) => `v${k.version}:${k.key.key.toString('base64')}`).join(separator);
}

export interface LocalKekSource {
  /** `TESSERA_MASTER_KEY`. Unset: the sandbox key file `<dataDir>/master.key`. */
  configured: string | undefined;
  dataDir: string;
  /** `production` refuses to generate a key. */
  env: string;
  warn: (message: string) => void;
}

/** How often an unknown KEK id may re-read the key file (another process may have rotated). */
const RELOAD_MS = 1_000;

/**
 * The default KEK: versions from `TESSERA_MASTER_KEY`, or (sandbox) from `<dataDir>/master.key`.
 * The key file is re-read when a data key names a version this process has not loaded, so a
 * `tessera keys rotate` in another process is picked up without a restart.
 */
export class LocalKeyEncryptionKeys implements KeyEncryptionKeys {
  readonly #source: LocalKekSource;
  #keys: { version: number; key: MasterKey }[];
  #lastReload = 0;

  constructor(source: LocalKekSource) {
    this.#source = source;
    this.#keys = loadKeys(source).keys;
  }

  /** Wraps an already-loaded single key (tests, tools): version 1, no file. */
  static of(master: MasterKey): KeyEncryptionKeys {
    return {
      active: () => ({ version: 1, id: master.id }),
      versions: () => [{ version: 1, id: master.id }],
      wrap: async (key, aad) => ({ kekId: master.id, wrapped: seal(master.keyObject, key, aad).toString('base64url') }),
      unwrap: async (kekId, wrapped, aad) => {
        if (kekId !== master.id) throw new UnknownKekError(kekId);
        return open(master.keyObject, Buffer.from(wrapped, 'base64url'), aad);
      },
      legacyRootSecret: () => master.key,
    };
  }

  /** Whether versions come from the data-dir file (sandbox) rather than the environment. */
  get fileBacked(): boolean {
    return !this.#source.configured;
  }

  get file(): string {
    return join(this.#source.dataDir, 'master.key');
  }

  active(): KekVersion {
    const k = this.#keys[0]!;
    return { version: k.version, id: k.key.id };
  }

  versions(): KekVersion[] {
    return this.#keys.map((k) => ({ version: k.version, id: k.key.id }));
  }

  async wrap(key: Buffer, aad: string): Promise<{ kekId: string; wrapped: string }> {
    // Wraps are rare (a new tenant, a rotation): re-read the key file first, so a version that
    // another process made active (and may soon retire the old one) is used at once.
    if (this.fileBacked) this.reload();
    const k = this.#keys[0]!.key;
    return { kekId: k.id, wrapped: seal(k.keyObject, key, aad).toString('base64url') };
  }

  async unwrap(kekId: string, wrapped: string, aad: string): Promise<Buffer> {
    let k = this.#keys.find((x) => x.key.id === kekId);
    if (!k && this.fileBacked && Date.now() - this.#lastReload > RELOAD_MS) {
      this.reload();
      k = this.#keys.find((x) => x.key.id === kekId);
    }
    if (!k) throw new UnknownKekError(kekId);
    return open(k.key.keyObject, Buffer.from(wrapped, 'base64url'), aad);
  }

  legacyRootSecret(): Buffer | undefined {
    return this.#keys.reduce((low, k) => (k.version < low.version ? k : low)).key.key;
  }

  /** Re-reads the key file (sandbox) or nothing (environment). */
  reload(): void {
    this.#lastReload = Date.now();
    if (this.fileBacked) this.#keys = loadKeys(this.#source).keys;
  }

  /**
   * Sandbox only: adds a new random version to the key file (written to a temporary file, synced,
   * then renamed over the old one, so a crash leaves either the old or the new file, never a torn
   * one) and makes it active. Older versions stay in the file until `retire`.
   */
  addVersion(): KekVersion {
    this.#requireFile('add a master-key version');
    this.reload();
    const version = Math.max(...this.#keys.map((k) => k.version)) + 1;
    const keys = [{ version, key: masterKeyFrom(randomBytes(32)) }, ...this.#keys];
    writeKeyFile(this.file, formatMasterKeys(keys, '\n') + '\n');
    this.#keys = keys;
    return { version, id: keys[0]!.key.id };
  }

  /** Sandbox only: removes a non-active version from the key file (the caller checked nothing uses it). */
  removeVersion(version: number): void {
    this.#requireFile('retire a master-key version');
    this.reload();
    if (this.#keys[0]!.version === version) throw new MasterKeyError(`version ${version} is the active master key: rotate first.`);
    const keys = this.#keys.filter((k) => k.version !== version);
    writeKeyFile(this.file, formatMasterKeys(keys, '\n') + '\n');
    this.#keys = keys;
  }

  #requireFile(what: string): void {
    if (!this.fileBacked) throw new MasterKeyError(`cannot ${what} in TESSERA_MASTER_KEY from here: change the variable (see docs/keys.md).`);
  }
}

function writeKeyFile(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function loadKeys(source: LocalKekSource): ParsedMasterKeys {
  if (source.configured) return parseMasterKeys(source.configured);
  if (source.env === 'production') throw new MasterKeyError('TESSERA_MASTER_KEY is required when TESSERA_ENV=production.');
  const file = join(source.dataDir, 'master.key');
  if (existsSync(file)) return parseMasterKeys(readFileSync(file, 'utf8'));
  mkdirSync(source.dataDir, { recursive: true });
  try {
    // `wx`: if another process created it first, fail and read theirs instead.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('base64') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    source.warn(`sandbox mode: generated a master key in ${file}. Set TESSERA_MASTER_KEY (and TESSERA_ENV=production) for real use.`);
  } catch {
    // Created by another process meanwhile: read theirs.
  }
  return parseMasterKeys(readFileSync(file, 'utf8'));
}
