/**
 * The sealed record of a sign-in through the identity provider (src/server/oauth/oidc-pending.ts):
 * only the id in the person's cookie opens it; a changed byte, another id or a record of the
 * wrong shape opens to nothing. Checked against the key derived from a constant instead of the
 * id (`hkdfSync('sha256', Buffer.from('fixed') …)`): the other-id case failed.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openOidcPending, sealOidcPending } from '../../src/server/oauth/oidc-pending.js';

const secrets = () => ({ issuer: 'https://idp.example', clientId: 'rp', verifier: randomBytes(32).toString('base64url'), state: 's1', nonce: 'n1', redirectUri: 'https://ass.example/dashboard/sign-in/oidc/callback', next: '/dashboard/sign-ins' });

describe('the sealed pending sign-in', () => {
  it('opens with its own id only; the sealed text holds none of the secrets', () => {
    const id = randomBytes(32).toString('base64url');
    const s = secrets();
    const sealed = sealOidcPending(id, s);
    expect(openOidcPending(id, sealed)).toEqual(s);
    expect(openOidcPending(randomBytes(32).toString('base64url'), sealed)).toBeUndefined();
    for (const v of [s.verifier, s.state, s.nonce, 'idp.example']) expect(Buffer.from(sealed, 'base64url').toString('latin1')).not.toContain(v);
  });

  it('a changed byte anywhere opens to nothing', () => {
    const id = randomBytes(32).toString('base64url');
    const raw = Buffer.from(sealOidcPending(id, secrets()), 'base64url');
    for (const at of [0, 13, 30, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at]! ^= 1;
      expect(openOidcPending(id, bad.toString('base64url')), `byte ${at}`).toBeUndefined();
    }
    expect(openOidcPending(id, '')).toBeUndefined();
    expect(openOidcPending(id, 'not base64 at all!')).toBeUndefined();
  });

  it('refuses to seal a record of the wrong shape (a verifier too short for PKCE)', () => {
    expect(() => sealOidcPending('id', { ...secrets(), verifier: 'short' })).toThrow();
  });
});
