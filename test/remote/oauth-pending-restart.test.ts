/**
 * A sign-in waiting for its human (issue 13, left from the last session) survives a restart of
 * the server: the pending authorization is kept in the OAuth store (oauth.json here; PostgreSQL
 * with several replicas, test/integration/oauth-replicas-postgres.test.ts), with its expiry, and
 * pruned once expired. Real HTTP for registration, token exchange and the MCP call; the authorize
 * step and the consent are the OAuth service's `beginAuthorization` and `decide` (what GET
 * /oauth/authorize and the dashboard's consent form call; this server mounts no dashboard).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { oauthFor } from '../../src/server/oauth/index.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { createLogger } from '../../src/server/logger.js';
import { startHttpServer, type HttpServerHandle } from '../../src/server/http/server.js';
import { resolveHttpOptions } from '../../src/server/http/options.js';
import { call } from '../helpers/cli.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
/** Fixed, so the issuer and audience stay the same when the restarted server gets another port (as behind a proxy). */
const RESOURCE = 'http://127.0.0.1:1/mcp';

interface Running {
  runtime: Runtime;
  handle: HttpServerHandle;
  stop(): Promise<void>;
}

async function serve(configPath: string, clock?: () => Date): Promise<Running> {
  const settings = loadSettings(configPath, {});
  const runtime = await openRuntime(settings, createLogger('error'), clock ? { clock } : {});
  const handle = await startHttpServer(runtime, resolveHttpOptions(settings.config.http, { host: '127.0.0.1', port: 0 }));
  return { runtime, handle, stop: async () => { await handle.close(); await runtime.close(); } };
}

describe('pending sign-ins survive a restart', () => {
  let config: RemoteConfig | undefined;
  let running: Running | undefined;
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await config?.cleanup();
    config = undefined;
  });

  async function begin(server: Running): Promise<{ id: string; verifier: string; clientId: string }> {
    const registered = await fetch(`${server.handle.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: 'restart app', redirect_uris: [REDIRECT] }) });
    expect(registered.status).toBe(201);
    const { client_id: clientId } = (await registered.json()) as { client_id: string };
    const verifier = randomBytes(32).toString('base64url');
    // The authorize endpoint's own step (GET /oauth/authorize hands this id to the dashboard's consent page).
    const params = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 'st', resource: RESOURCE });
    const begun = await (await oauthFor(server.runtime))!.beginAuthorization(params, server.handle.url);
    if (!('pending' in begun)) throw new Error(`authorize refused: ${begun.redirect}`);
    return { id: begun.pending.id, verifier, clientId };
  }

  it('begun before a restart, consented and exchanged after it; the pending id is not in oauth.json, only its hash', async () => {
    config = await makeConfig({ agents: [], extra: { auth: { oauth: { resource_url: RESOURCE, templates: { reader: { grants: ['secrets:read:team/**'] } } } } } });
    running = await serve(config.configPath);
    await running.runtime.backend.put({ namespace: 'team', key: 'API', value: 'restart-value', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const { id, verifier, clientId } = await begin(running);
    const stored = readFileSync(path.join(config.dir, 'oauth.json'), 'utf8');
    expect(stored).not.toContain(id);

    await running.stop();
    running = await serve(config.configPath);
    const oauth = (await oauthFor(running.runtime))!;
    const pending = await oauth.pending(id);
    expect(pending).toMatchObject({ id, redirectUri: REDIRECT, state: 'st', resource: RESOURCE });
    const back = new URL(await oauth.decide(id, 'admin:admin', { approve: true, agent: { kind: 'template', name: 'reader' } }));
    expect(back.searchParams.get('state')).toBe('st');
    const exchanged = await fetch(`${running.handle.url}/oauth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }) });
    expect(exchanged.status).toBe(200);
    const { access_token: access } = (await exchanged.json()) as { access_token: string };
    const client = new Client({ name: 'restart', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${running.handle.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${access}` } } }));
    const got = await call(client, 'get_secret', { namespace: 'team', key: 'API' });
    expect(got).toMatchObject({ ok: true, data: { value: 'restart-value' } });
    await client.close();
    // Answered once: the same consent page after the answer is gone.
    expect(await oauth.pending(id)).toBeUndefined();
    await expect(oauth.decide(id, 'admin:admin', { approve: false })).rejects.toMatchObject({ error: 'invalid_request' });
  });

  it('expired after the restart: refused, and pruned from oauth.json by the next sign-in', async () => {
    config = await makeConfig({ agents: [], extra: { auth: { oauth: { resource_url: RESOURCE, templates: { reader: { grants: ['secrets:read:team/**'] } } } } } });
    running = await serve(config.configPath);
    const { id } = await begin(running);
    const file = path.join(config.dir, 'oauth.json');
    expect(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { pending: object }).pending)).toHaveLength(1);
    await running.stop();
    // Restarted 12 minutes later (sign-ins wait 10; expired ones are dropped a code's lifetime, 1 min, after).
    const later = Date.now() + 12 * 60_000;
    running = await serve(config.configPath, () => new Date(later));
    const oauth = (await oauthFor(running.runtime))!;
    expect(await oauth.pending(id)).toBeUndefined();
    await begin(running);
    const pending = (JSON.parse(readFileSync(file, 'utf8')) as { pending: Record<string, { createdAt: number }> }).pending;
    expect(Object.values(pending).map((p) => p.createdAt)).toEqual([later]);
    await expect(oauth.decide(id, 'admin:admin', { approve: true, agent: { kind: 'template', name: 'reader' } })).rejects.toMatchObject({ error: 'invalid_request' });
  });
});
