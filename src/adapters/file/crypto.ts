/**
 * AES-256-GCM sealing for the file backend: a fresh 12-byte random IV per seal, a 16-byte tag,
 * associated data that binds the ciphertext to where it belongs.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export interface Sealed {
  iv: Buffer;
  tag: Buffer;
  ciphertext: Buffer;
}

/** Thrown by `open` when authentication fails; callers turn it into an `INTEGRITY_ERROR`. */
export class AuthenticationError extends Error {
  constructor() {
    super('authentication failed');
    this.name = 'AuthenticationError';
  }
}

/** Associated data: a JSON array of strings, so no two different lists encode the same bytes. */
export function associatedData(parts: readonly string[]): Buffer {
  return Buffer.from(JSON.stringify(parts), 'utf8');
}

export function seal(key: Buffer, plaintext: Buffer, aad: Buffer): Sealed {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/**
 * Decrypts and authenticates. Throws `AuthenticationError` on any mismatch (wrong key, flipped
 * bit, wrong associated data, wrong lengths).
 */
export function open(key: Buffer, sealed: Sealed, aad: Buffer): Buffer {
  if (sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) throw new AuthenticationError();
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.tag);
  const head = decipher.update(sealed.ciphertext);
  try {
    decipher.final();
  } catch {
    // Security: GCM hands out plaintext before the tag is checked; wipe it so no unauthenticated
    // byte survives in memory or reaches a caller.
    head.fill(0);
    throw new AuthenticationError();
  }
  return head;
}

/** One buffer `iv ‖ tag ‖ ciphertext`, for small records such as key checks. */
export function packSealed(sealed: Sealed): string {
  return Buffer.concat([sealed.iv, sealed.tag, sealed.ciphertext]).toString('base64');
}

export function unpackSealed(packed: string): Sealed {
  const bytes = Buffer.from(packed, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new AuthenticationError();
  return {
    iv: bytes.subarray(0, IV_BYTES),
    tag: bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES),
    ciphertext: bytes.subarray(IV_BYTES + TAG_BYTES),
  };
}

const CHECK_MARKER = Buffer.from('agent-secret-store key check v1', 'utf8');
const CHECK_AAD = associatedData(['ass-file-v1', 'key-check']);

/** Encrypts a fixed marker so a later `verifyKeyCheck` can tell a wrong key from a tampered file. */
export function makeKeyCheck(key: Buffer): string {
  return packSealed(seal(key, CHECK_MARKER, CHECK_AAD));
}

/** True when `check` was made by `makeKeyCheck` with this very key. */
export function verifyKeyCheck(key: Buffer, check: string): boolean {
  try {
    return open(key, unpackSealed(check), CHECK_AAD).equals(CHECK_MARKER);
  } catch {
    return false;
  }
}
