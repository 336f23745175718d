import { createHash, hkdfSync } from 'node:crypto';
import { z } from 'zod';
import { openText, parseJsonOrUndefined, sealText } from '../shared/seal.js';

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

/** The row's key as associated data: a sealed session moved to another row does not open. */
const rowAad = (id: string): Buffer => Buffer.from(sessionKey(id), 'utf8');

/** base64url(iv ‖ tag ‖ ciphertext) of the session, bound to the row's key as associated data. */
export function sealSession(id: string, deploymentKey: Uint8Array, session: SealedSession): string {
  return sealText(keyFor(id, deploymentKey), JSON.stringify(SealedSessionSchema.parse(session)), rowAad(id));
}

/** The session, or undefined when the sealed text was not made for this cookie id by this deployment (or was changed). */
export function openSession(id: string, deploymentKey: Uint8Array, sealed: string): SealedSession | undefined {
  const parsed = SealedSessionSchema.safeParse(parseJsonOrUndefined(openText(keyFor(id, deploymentKey), sealed, rowAad(id))));
  return parsed.success ? parsed.data : undefined;
}
