import { createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { randomPooled } from '../domain/random.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * AES-256-GCM. The additional authenticated data binds a ciphertext to the row it belongs to
 * (e.g. `token:<hash>`), so a ciphertext copied into another row fails to decrypt.
 * Output: iv ‖ ciphertext ‖ tag. Keys are `KeyObject`s: building one from raw bytes on every call
 * costs more than the encryption itself.
 */
export function seal(key: KeyObject, plaintext: Buffer, aad: string): Buffer {
  const iv = randomPooled(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([iv, body, final, cipher.getAuthTag()]);
}

/** Throws `VaultIntegrityError` when the key, the AAD or the bytes are not the ones sealed. */
export function open(key: KeyObject, sealed: Buffer, aad: string): Buffer {
  if (sealed.length < IV_BYTES + TAG_BYTES) throw new VaultIntegrityError();
  const iv = sealed.subarray(0, IV_BYTES);
  const tag = sealed.subarray(sealed.length - TAG_BYTES);
  const body = sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(body), decipher.final()]);
  } catch {
    throw new VaultIntegrityError();
  }
}

/** A ciphertext did not authenticate: wrong key, wrong row, or tampered bytes. Carries no data. */
export class VaultIntegrityError extends Error {
  constructor() {
    super('vault ciphertext failed authentication');
    this.name = 'VaultIntegrityError';
  }
}
