import { createHash, createHmac, createSecretKey, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The key-encryption key (KEK) that wraps every data key. Never logged; `id` is a check value. */
export interface MasterKey {
  /** First 16 hex of HMAC-SHA256(key, "tessera-kcv"): names the key without revealing it. */
  id: string;
  key: Buffer;
  /** The same key, prepared once for the cipher. */
  keyObject: KeyObject;
}

export interface MasterKeySource {
  /** `TESSERA_MASTER_KEY`: base64 of 32 bytes. */
  configured: string | undefined;
  /** Where sandbox mode keeps a generated key (`<data dir>/master.key`). */
  dataDir: string;
  /** `production` refuses to generate one. */
  env: string;
  warn: (message: string) => void;
}

export class MasterKeyError extends Error {
  override name = 'MasterKeyError';
}

export function masterKeyFrom(key: Buffer): MasterKey {
  if (key.length !== 32) throw new MasterKeyError('TESSERA_MASTER_KEY must be base64 of exactly 32 bytes.');
  const id = createHmac('sha256', key).update('tessera-kcv').digest('hex').slice(0, 16);
  return { id, key, keyObject: createSecretKey(key) };
}

/**
 * Loads the master key: `TESSERA_MASTER_KEY` if set; otherwise, outside production, the key file in
 * the data directory, generated on first use with a warning.
 */
export function loadMasterKey(source: MasterKeySource): MasterKey {
  if (source.configured !== undefined && source.configured !== '') {
    return masterKeyFrom(Buffer.from(source.configured, 'base64'));
  }
  if (source.env === 'production') {
    throw new MasterKeyError('TESSERA_MASTER_KEY is required when TESSERA_ENV=production.');
  }
  const file = join(source.dataDir, 'master.key');
  if (existsSync(file)) return masterKeyFrom(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  mkdirSync(source.dataDir, { recursive: true });
  const key = randomBytes(32);
  // `wx`: if another process created it first, fail and read theirs instead.
  try {
    writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    source.warn(
      `sandbox mode: generated a master key in ${file}. Set TESSERA_MASTER_KEY (and TESSERA_ENV=production) for real use.`,
    );
    return masterKeyFrom(key);
  } catch {
    return masterKeyFrom(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64'));
  }
}

/** A purpose-bound subkey of the master key (HKDF-SHA256), e.g. for signing merchant JWTs. */
export function deriveKey(master: MasterKey, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master.key, Buffer.alloc(0), `tessera:${purpose}`, 32));
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
