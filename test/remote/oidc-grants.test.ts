/**
 * Grants consented by a person signed in through the identity provider (auth.oidc), at the
 * authorization server itself (src/server/oauth/service.ts) on a real runtime and data directory:
 * what such a person may choose, whose name the calls carry, and when their grants end. `auth`
 * applies at a restart, so "the operator changed the config" is a second runtime on the same
 * data directory (same signing key, same oauth.json), as a restarted server is.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { oauthFor, type AgentChoice, type OAuthService } from '../../src/server/oauth/index.js';
import { loadSettings } from '../../src/server/settings.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { createLogger } from '../../src/server/logger.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';

const ORIGIN = 'http://127.0.0.1:9';
const REDIRECT = 'http://127.0.0.1:9/callback';
const KIM = 'oidc:kim (kim@example.com)';
const OIDC = { issuer: 'https://login.example.com/realms/team', client_id: 'ass', client_secret: 'not-used-here', groups: { engineering: 'reader', sre: ['reader', 'deployer'] } };
const AUTH = { auth: { oauth: { resource_url: `${ORIGIN}/mcp`, templates: { reader: { grants: ['secrets:read:team/**'] }, deployer: { grants: ['secrets:read:production/**'] } } }, oidc: OIDC } };

describe('grants of people signed in through the identity provider', () => {
  let config: RemoteConfig | undefined;
  let runtime: Runtime | undefined;

  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
    await config?.cleanup();
    config = undefined;
  });

  async function open(): Promise<OAuthService> {
    await runtime?.close();
    runtime = await openRuntime(loadSettings(config!.configPath, {}), createLogger('error'));
    return (await oauthFor(runtime))!;
  }

  /** Rewrites the config as an operator would (then `open()` again, as a restart). */
  function editAuth(change: (auth: Record<string, any>) => void): void {
    const file = JSON.parse(readFileSync(config!.configPath, 'utf8')) as Record<string, any>;
    change(file.auth);
    writeFileSync(config!.configPath, JSON.stringify(file, null, 2), { mode: 0o600 });
  }

  /** Registers a client, has `human` consent to `choice`, exchanges the code; returns the access token. */
  async function consent(oauth: OAuthService, human: string, choice: AgentChoice, templates?: string[]): Promise<string> {
    const { client_id: clientId } = (await oauth.register({ client_name: 'oidc test', redirect_uris: [REDIRECT] })) as { client_id: string };
    const verifier = randomBytes(32).toString('base64url');
    const begun = await oauth.beginAuthorization(new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 's' }), ORIGIN);
    if (!('pending' in begun)) throw new Error(`authorize refused: ${begun.redirect}`);
    const back = new URL(await oauth.decide(begun.pending.id, human, { approve: true, agent: choice, ...(templates ? { templates } : {}) }));
    return (await oauth.token(new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }), ORIGIN)).access_token;
  }

  it('a person acts only as their own agent from a template their groups give; the agent names them', async () => {
    config = await makeConfig({ agents: [{ id: 'ops', grants: ['secrets:read:**'] }], extra: AUTH });
    const oauth = await open();
    // Never a configured agent (an admin's choice), never a template their groups do not give.
    await expect(consent(oauth, KIM, { kind: 'existing', id: 'ops' }, ['reader'])).rejects.toMatchObject({ error: 'access_denied' });
    await expect(consent(oauth, KIM, { kind: 'template', name: 'deployer' }, ['reader'])).rejects.toMatchObject({ error: 'access_denied' });
    // Without the templates of their groups, nothing.
    await expect(consent(oauth, KIM, { kind: 'template', name: 'reader' })).rejects.toMatchObject({ error: 'access_denied' });
    const access = await consent(oauth, KIM, { kind: 'template', name: 'reader' }, ['reader']);
    const { agent, grant } = await oauth.authenticate(access, ORIGIN);
    expect(agent.config.id).toBe('reader._kim');
    expect(agent.config.grants).toEqual(['secrets:read:team/**']);
    expect(agent.onBehalfOf).toBe(KIM);
    expect(grant.human).toBe(KIM);
    // An admin whose id is the same text gets another agent: the two never share approvals or limits.
    const adminAccess = await consent(oauth, 'admin:admin', { kind: 'template', name: 'reader' });
    expect((await oauth.authenticate(adminAccess, ORIGIN)).agent.config.id).toBe('reader.admin');
    expect((await oauth.authenticate(await consent(oauth, 'oidc:admin', { kind: 'template', name: 'reader' }, ['reader']), ORIGIN)).agent.config.id).toBe('reader._admin');
  });

  it('their grants end when no group maps the template, when the provider changes, or when auth.oidc is removed', async () => {
    config = await makeConfig({ agents: [{ id: 'ops', grants: ['secrets:read:**'] }], extra: AUTH });
    let oauth = await open();
    const reader = await consent(oauth, KIM, { kind: 'template', name: 'reader' }, ['reader']);
    const deployer = await consent(oauth, KIM, { kind: 'template', name: 'deployer' }, ['reader', 'deployer']);
    const admins = await consent(oauth, 'admin:admin', { kind: 'template', name: 'deployer' });

    // sre no longer gives deployer: the grant made from it ends; reader (engineering) stays.
    editAuth((auth) => { auth.oidc.groups = { engineering: 'reader', sre: 'reader' }; });
    oauth = await open();
    await expect(oauth.authenticate(deployer, ORIGIN)).rejects.toMatchObject({ status: 401, description: expect.stringContaining('no group gives this template any more') });
    expect((await oauth.authenticate(reader, ORIGIN)).agent.config.id).toBe('reader._kim');
    // An admin's grant from the same template does not depend on groups.
    expect((await oauth.authenticate(admins, ORIGIN)).agent.config.id).toBe('deployer.admin');

    // Another provider: its subjects are other people.
    editAuth((auth) => { auth.oidc.issuer = 'https://other-idp.example.com'; });
    oauth = await open();
    await expect(oauth.authenticate(reader, ORIGIN)).rejects.toMatchObject({ status: 401, description: expect.stringContaining('the identity provider changed') });

    // Back to the first provider, then auth.oidc removed.
    editAuth((auth) => { auth.oidc.issuer = OIDC.issuer; });
    oauth = await open();
    expect((await oauth.authenticate(reader, ORIGIN)).agent.config.id).toBe('reader._kim');
    editAuth((auth) => { delete auth.oidc; });
    oauth = await open();
    await expect(oauth.authenticate(reader, ORIGIN)).rejects.toMatchObject({ status: 401, description: expect.stringContaining('sign-in with the identity provider is off') });
    expect((await oauth.authenticate(admins, ORIGIN)).agent.config.id).toBe('deployer.admin');
  });
});
