import { hkdfSync } from 'node:crypto';
import { z } from 'zod';
import { openText, parseJsonOrUndefined, sealText } from '../../shared/seal.js';

/**
 * What a dashboard sign-in through the identity provider (auth.oidc) must remember between
 * sending the person to the provider and the provider's callback: the PKCE verifier, `state`,
 * `nonce`, our redirect URI and where to go afterwards. It is kept in the shared OAuth store
 * (`addOidcPending`), so the callback may reach any replica, under the sha256 of a random id that
 * only the person's browser holds (a cookie). The secrets themselves are sealed with AES-256-GCM
 * under a key derived from that id: a copy of the store (a backup, a read-only database role)
 * holds no usable PKCE verifier or nonce, and a record moved to another key does not open.
 */

export const OidcPendingSchema = z
  .object({
    issuer: z.string().max(2000),
    clientId: z.string().max(300),
    verifier: z.string().min(43).max(128),
    state: z.string().min(1).max(200),
    nonce: z.string().min(1).max(200),
    redirectUri: z.string().max(2000),
    next: z.string().max(200),
  })
  .strict();

export type OidcPendingSecrets = z.infer<typeof OidcPendingSchema>;

const keyFor = (id: string): Buffer => Buffer.from(hkdfSync('sha256', Buffer.from(id, 'utf8'), Buffer.alloc(0), 'agent-secret-store oidc-pending seal v1', 32));

/** Encrypts the secrets under the id's key: base64url(iv ‖ tag ‖ ciphertext). */
export function sealOidcPending(id: string, secrets: OidcPendingSecrets): string {
  return sealText(keyFor(id), JSON.stringify(OidcPendingSchema.parse(secrets)));
}

/** The secrets, or undefined when the sealed text was not made with this id (or was changed). */
export function openOidcPending(id: string, sealed: string): OidcPendingSecrets | undefined {
  const parsed = OidcPendingSchema.safeParse(parseJsonOrUndefined(openText(keyFor(id), sealed)));
  return parsed.success ? parsed.data : undefined;
}
