import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { z } from 'zod';

/**
 * What a stored dashboard session is (who signed in, how, its CSRF token, when) is sealed with
 * AES-256-GCM under a key derived from BOTH the cookie's id (only the browser holds it) and the
 * deployment's token-signing key (every replica holds it, the database does not):
 * - a reader of the store (a backup, a read-only database role) learns neither the CSRF token
 *   nor who holds which row, and no stored value is a cookie;
 * - a writer of the store without the signing key cannot make a row that opens: choosing an id,
 *   hashing it and inserting a row gives no session, and a row edited (another admin, an admins
 *   group added, an earlier start to outlive the absolute limit) or moved to another key fails
 *   its tag; the clear columns (admin, start) must equal the sealed ones;
 * - a cookie from another deployment (another signing key) opens nothing here.
 */

const PersonSchema = z
  .object({
    sub: z.string().max(1000),
    human: z.string().max(2000),
    label: z.string().max(1000).optional(),
    adminsGroup: z.string().max(1000).optional(),
    templates: z.array(z.string().max(200)).max(1000),
    issuerHash: z.string().max(200),
  })
  .strict();

export const SealedSessionSchema = z
  .object({
    adminId: z.string().min(1).max(2000),
    keySha256: z.string().max(64),
    person: PersonSchema.optional(),
    csrf: z.string().min(32).max(100),
    createdAt: z.number().int().nonnegative(),
  })
  .strict();

export type SealedSession = z.infer<typeof SealedSessionSchema>;

/** The store's key for a cookie id (hex sha256, as the in-memory sessions used). */
export const sessionKey = (id: string): string => createHash('sha256').update(id).digest('hex');

const keyFor = (id: string, deploymentKey: Uint8Array): Buffer =>
  Buffer.from(hkdfSync('sha256', Buffer.from(id, 'utf8'), deploymentKey, 'agent-secret-store dashboard-session seal v1', 32));

/** base64url(iv ‖ tag ‖ ciphertext) of the session, bound to the row's key as associated data. */
export function sealSession(id: string, deploymentKey: Uint8Array, session: SealedSession): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(id, deploymentKey), iv);
  cipher.setAAD(Buffer.from(sessionKey(id), 'utf8'));
  const body = Buffer.concat([cipher.update(JSON.stringify(SealedSessionSchema.parse(session)), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The session, or undefined when the sealed text was not made for this cookie id by this deployment (or was changed). */
export function openSession(id: string, deploymentKey: Uint8Array, sealed: string): SealedSession | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    if (raw.length < 29) return undefined;
    const decipher = createDecipheriv('aes-256-gcm', keyFor(id, deploymentKey), raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(sessionKey(id), 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    const text = Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
    const parsed = SealedSessionSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
