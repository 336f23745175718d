/**
 * `auth.oidc` (docs/remote-auth.md, "Signing in with your identity provider"): what the schema
 * accepts and refuses, and the person helpers grants and audit records rely on.
 */
import { describe, expect, it } from 'vitest';
import { AuthSchema } from '../../src/config/auth-schema.js';
import { adminActor } from '../../src/server/human-decisions.js';
import { cleanLabel, isSamePerson, isValidSubject, oidcHuman, oidcPersonAgentId, oidcSubject, templatesForGroups } from '../../src/server/oauth/oidc-person.js';

const oauth = { templates: { reader: { grants: ['secrets:read:team/**'] }, deployer: { grants: ['secrets:read:production/**'] } } };
const oidc = { issuer: 'https://login.example.com/realms/team', client_id: 'ass', client_secret: 'from-env', groups: { engineering: 'reader', sre: ['reader', 'deployer'] } };
const problems = (auth: unknown): string[] => {
  const parsed = AuthSchema.safeParse(auth);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('auth.oidc config', () => {
  it('accepts a provider with groups mapped to templates, with defaults for scopes and the groups claim', () => {
    const parsed = AuthSchema.parse({ oauth, oidc });
    expect(parsed.oidc).toMatchObject({ scopes: ['openid', 'email', 'profile'], groups_claim: 'groups' });
    expect(problems({ oauth, oidc: { ...oidc, client_secret: undefined, client_secret_file: 'oidc-secret' } })).toEqual([]);
    expect(problems({ oauth, oidc: { ...oidc, issuer: 'http://127.0.0.1:8080/idp' } })).toEqual([]);
  });

  it('refuses what would not work or not be safe, saying which field', () => {
    expect(problems({ oidc })).toEqual(['oidc: auth.oidc signs people in for OAuth consent: set auth.oauth too']);
    expect(problems({ oauth, oidc: { ...oidc, groups: { engineering: 'writer' } } })).toEqual(['oidc.groups.engineering: template "writer" is not in auth.oauth.templates']);
    expect(problems({ oauth, oidc: { ...oidc, issuer: 'http://login.example.com' } })).toEqual(['oidc.issuer: the issuer must be https (plain http only on loopback)']);
    expect(problems({ oauth, oidc: { ...oidc, issuer: 'http://127.0.0.1.evil.example/' } })).toEqual(['oidc.issuer: the issuer must be https (plain http only on loopback)']);
    expect(problems({ oauth, oidc: { ...oidc, client_secret_file: 'x' } })[0]).toMatch(/exactly one of client_secret/);
    expect(problems({ oauth, oidc: { ...oidc, client_secret: undefined } })[0]).toMatch(/exactly one of client_secret/);
    expect(problems({ oauth, oidc: { ...oidc, scopes: ['email'] } })).toEqual(['oidc.scopes: scopes must include openid']);
    expect(problems({ oauth, oidc: { ...oidc, scopes: ['openid', 'a b'] } })[0]).toMatch(/oidc.scopes.1: must be an OAuth scope token/);
    expect(problems({ oauth, oidc: { ...oidc, admin: true } })[0]).toMatch(/admin/);
  });

  it('admins_group: an optional group name; empty, blank or not text is refused with a clear message', () => {
    expect(AuthSchema.parse({ oauth, oidc: { ...oidc, admins_group: 'secret-store-admins' } }).oidc?.admins_group).toBe('secret-store-admins');
    expect(AuthSchema.parse({ oauth, oidc }).oidc?.admins_group).toBeUndefined();
    for (const bad of ['', '   ', 42, ['a']]) {
      expect(problems({ oauth, oidc: { ...oidc, admins_group: bad } }), JSON.stringify(bad)).toEqual(['oidc.admins_group: must be the name of a group at the identity provider, e.g. secret-store-admins']);
    }
    expect(problems({ oauth, oidc: { ...oidc, admins_group: 'g'.repeat(201) } })).toEqual(['oidc.admins_group: a group name of at most 200 characters']);
  });
});

describe('how the audit names an admin', () => {
  it('a configured admin by id; a person made admin by the provider by sub, with their label beside it', () => {
    expect(adminActor({ adminId: 'alice' })).toBe('admin:alice');
    expect(adminActor({ adminId: 'oidc:248289761001', label: 'jane@example.com' })).toBe('admin:oidc:248289761001 (jane@example.com)');
  });
});

describe('OIDC persons', () => {
  it('names a person by sub and label; the label never changes who they are', () => {
    expect(oidcHuman('248289761001', 'jane@example.com')).toBe('oidc:248289761001 (jane@example.com)');
    expect(oidcSubject('oidc:248289761001 (jane@example.com)')).toBe('248289761001');
    expect(isSamePerson('oidc:248289761001 (old@example.com)', '248289761001')).toBe(true);
    // A label made to look like another person does not make them that person.
    expect(isSamePerson(oidcHuman('mallory', 'oidc:jane'), 'jane')).toBe(false);
    expect(isSamePerson('admin:jane', 'jane')).toBe(false);
  });

  it('accepts only subjects without spaces or control characters; labels lose control characters', () => {
    expect(isValidSubject('a b')).toBe(false);
    expect(isValidSubject('')).toBe(false);
    expect(isValidSubject('x'.repeat(256))).toBe(false);
    expect(isValidSubject('auth0|5f7c8ec7c33c6c004bbafe82')).toBe(true);
    expect(cleanLabel('Jane\u202e\n\u0000Doe')).toBe('Jane Doe');
    expect(cleanLabel('   ')).toBeUndefined();
  });

  it('gives every subject its own agent id, never an admin’s per-person agent', () => {
    expect(oidcPersonAgentId('reader', 'jane')).toBe('reader._jane');
    // Characters an agent id cannot hold, or a sub too long, become a hash: a@b and a_b stay two agents.
    const a = oidcPersonAgentId('reader', 'a@b');
    const b = oidcPersonAgentId('reader', 'a_b');
    expect(a).toMatch(/^reader\.__[0-9a-f]{24}$/);
    expect(a).not.toBe(b);
    expect(oidcPersonAgentId('reader', 'x'.repeat(100))).toMatch(/^reader\.__[0-9a-f]{24}$/);
    for (const id of [a, b, oidcPersonAgentId('reader', 'jane')]) expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
  });

  it('maps groups to templates in config order, without duplicates', () => {
    const config = AuthSchema.parse({ oauth, oidc }).oidc!;
    expect(templatesForGroups(config, ['sre', 'engineering'])).toEqual(['reader', 'deployer']);
    expect(templatesForGroups(config, ['sales'])).toEqual([]);
  });
});
