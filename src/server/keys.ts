import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** Agent keys look like the hosted product's: `ass_` + 32 random bytes, base64url. */
export const AGENT_KEY_PREFIX = 'ass_';
/** Admin keys have their own prefix so a person can tell them apart at a glance. */
export const ADMIN_KEY_PREFIX = 'ass_admin_';

export function generateAgentKey(): string {
  return AGENT_KEY_PREFIX + randomBytes(32).toString('base64url');
}

export function generateAdminKey(): string {
  return ADMIN_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * sha256 hex of a key. A slow password hash is not needed here: keys are 256 random bits,
 * so a stolen hash cannot be brute-forced; what matters is that the key itself is never stored.
 */
export function hashKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/**
 * Finds the entry whose hash matches `presented`, in constant time per entry and without
 * stopping early, so timing says nothing about which entry (or how much of one) matched.
 */
export function matchKey<T extends { key_sha256: string }>(presented: string | undefined, entries: readonly T[]): T | undefined {
  if (!presented) return undefined;
  // Security: hash first, so the comparison is between equal-length digests whatever was sent.
  const digest = Buffer.from(hashKey(presented), 'hex');
  let found: T | undefined;
  for (const entry of entries) {
    const stored = Buffer.from(entry.key_sha256, 'hex');
    if (stored.length === digest.length && timingSafeEqual(stored, digest) && !found) found = entry;
  }
  return found;
}
