/**
 * The sealed dashboard session (src/dashboard/session-seal.ts): it opens only with the cookie's
 * id AND this deployment's signing key; a changed byte, another id, another deployment's key or a
 * record of the wrong shape opens to nothing, and the sealed text shows none of what it holds.
 * Checked against the key derived without the deployment key (`hkdfSync(…, id, Buffer.alloc(0), …)`):
 * the other-deployment case failed.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { openSession, sealSession, sessionKey } from '../../src/dashboard/session-seal.js';

const deployment = () => new Uint8Array(randomBytes(32));
const newId = () => randomBytes(32).toString('base64url');
const session = () => ({ adminId: 'oidc:248289 (jane@example.com)', keySha256: '', csrf: randomBytes(32).toString('base64url'), createdAt: 1_893_456_000_000, person: { sub: '248289', human: 'oidc:248289 (jane@example.com)', label: 'jane@example.com', adminsGroup: 'ass-admins', templates: ['reader'], issuerHash: 'e'.repeat(64) } });

describe('the sealed dashboard session', () => {
  it('opens with its own cookie id and deployment key only; the sealed text holds none of what it seals', () => {
    const [id, key, s] = [newId(), deployment(), session()];
    const sealed = sealSession(id, key, s);
    expect(openSession(id, key, sealed)).toEqual(s);
    expect(openSession(newId(), key, sealed)).toBeUndefined();
    expect(openSession(id, deployment(), sealed)).toBeUndefined();
    const text = Buffer.from(sealed, 'base64url').toString('latin1');
    for (const v of [s.csrf, 'ass-admins', 'jane@example.com', '248289', id, sessionKey(id)]) expect(text).not.toContain(v);
  });

  it('a changed byte anywhere opens to nothing; so does text that is not a sealed session', () => {
    const [id, key] = [newId(), deployment()];
    const raw = Buffer.from(sealSession(id, key, session()), 'base64url');
    for (const at of [0, 13, 30, raw.length - 1]) {
      const bad = Buffer.from(raw);
      bad[at]! ^= 1;
      expect(openSession(id, key, bad.toString('base64url')), `byte ${at}`).toBeUndefined();
    }
    expect(openSession(id, key, '')).toBeUndefined();
    expect(openSession(id, key, 'not base64 at all!')).toBeUndefined();
  });

  it('refuses to seal a record of the wrong shape (a CSRF token too short, an unknown field)', () => {
    expect(() => sealSession(newId(), deployment(), { ...session(), csrf: 'short' })).toThrow();
    expect(() => sealSession(newId(), deployment(), { ...session(), extra: 1 } as ReturnType<typeof session>)).toThrow();
  });
});
