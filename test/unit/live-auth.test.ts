/**
 * `auth.oidc.admins_group` follows the config file live (src/server/live-settings.ts `liveAuth`):
 * it says who is an admin, as `admins` does. The rest of `auth` stays as at start-up.
 * Checked against `liveAuth` returning `current` unchanged (the removal case failed).
 */
import { describe, expect, it } from 'vitest';
import { AuthSchema } from '../../src/config/auth-schema.js';
import { liveAuth } from '../../src/server/live-settings.js';

const oauth = { templates: { reader: { grants: ['secrets:read:team/**'] } } };
const oidc = { issuer: 'https://login.example.com', client_id: 'ass', client_secret: 'x', groups: { engineering: 'reader' } };
const auth = (over: Record<string, unknown> = {}) => AuthSchema.parse({ oauth, oidc: { ...oidc, ...over } });

describe('auth after a config reload', () => {
  it('admins_group removed or renamed counts at once; the other auth fields stay as at start-up', () => {
    const current = auth({ admins_group: 'admins' });
    expect(liveAuth(current, auth()).oidc?.admins_group).toBeUndefined();
    expect(liveAuth(current, AuthSchema.parse({ oauth })).oidc?.admins_group).toBeUndefined();
    expect(liveAuth(current, auth({ admins_group: 'other' })).oidc?.admins_group).toBe('other');
    // Another client id (restart-only) does not come along with it.
    const renamed = liveAuth(current, auth({ admins_group: 'admins', client_id: 'new' }));
    expect(renamed.oidc).toMatchObject({ client_id: 'ass', admins_group: 'admins' });
  });

  it('a provider changed in the file gives no admins until the restart applies it', () => {
    const current = auth({ admins_group: 'admins' });
    expect(liveAuth(current, AuthSchema.parse({ oauth, oidc: { ...oidc, issuer: 'https://other.example.com', admins_group: 'admins' } })).oidc?.admins_group).toBeUndefined();
  });

  it('without auth.oidc at start-up nothing changes', () => {
    const current = AuthSchema.parse({ oauth });
    expect(liveAuth(current, auth({ admins_group: 'admins' }))).toBe(current);
  });
});
