import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * AES-256-GCM sealing of a short text under a 32-byte key, as base64url(iv ‖ tag ‖ ciphertext),
 * optionally bound to associated data (`aad`) that must be the same to open it. Used for what a
 * shared store keeps on behalf of one browser (a dashboard session, a pending OIDC sign-in),
 * each under a key its caller derives.
 */

const IV_BYTES = 12;
const TAG_BYTES = 16;

export function sealText(key: Uint8Array, text: string, aad?: Buffer): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  if (aad) cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The text, or undefined when `sealed` was not made under this key (and aad), or was changed. */
export function openText(key: Uint8Array, sealed: string, aad?: Buffer): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length <= IV_BYTES + TAG_BYTES) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    if (aad) decipher.setAAD(aad);
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** JSON.parse that answers undefined instead of throwing (a sealed text is ours, but old or odd ones must not crash a request). */
export function parseJsonOrUndefined(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
