/**
 * `auth.agent_keys` and `auth.oauth` without the browser: which credential `/mcp` and `/sse`
 * accept per deployment, the 401 challenge, and the config checks. The full sign-in flow is
 * test/browser/oauth-sign-in.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/server/settings.js';
import { makeConfig, startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
const mcp = (url: string, headers: Record<string, string>) => fetch(`${url}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: initialize });

describe('auth.agent_keys and auth.oauth', () => {
  let server: InProcessServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('agent_keys: false refuses x-agent-key on /mcp and /sse with the sign-in challenge', async () => {
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }], extra: { auth: { agent_keys: false, oauth: {} } } });
    const key = server.keys.bot!;
    const refused = await mcp(server.url, { 'x-agent-key': key });
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp", error="invalid_request", error_description="Agent keys are turned off on this server (auth.agent_keys: false); connect with an OAuth sign-in."`);
    const sse = await fetch(`${server.url}/sse`, { headers: { 'x-agent-key': key } });
    expect(sse.status).toBe(401);
    // The authorize step needs the dashboard; without it the server says so instead of half-working.
    const authorize = await fetch(`${server.url}/oauth/authorize?client_id=x`, { redirect: 'manual' });
    expect(authorize.status).toBe(503);
  });

  it('agent_keys: true (the default) with oauth: the key works, no credential gets the challenge', async () => {
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }], extra: { auth: { oauth: {} } } });
    expect((await mcp(server.url, { 'x-agent-key': server.keys.bot! })).status).toBe(200);
    const bare = await mcp(server.url, {});
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`);
    // An agent key sent as a bearer token is not an access token.
    const asBearer = await mcp(server.url, { authorization: `Bearer ${server.keys.bot!}` });
    expect(asBearer.status).toBe(401);
    expect(asBearer.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
  });

  it('without auth.oauth nothing changes: no metadata, the old x-agent-key message', async () => {
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }] });
    expect((await fetch(`${server.url}/.well-known/oauth-protected-resource`)).status).toBe(404);
    const bare = await mcp(server.url, {});
    expect(bare.status).toBe(401);
    expect(bare.headers.get('www-authenticate')).toBeNull();
  });

  it('config: agent_keys: false needs oauth; a template needs a grant; durations are checked', async () => {
    for (const [auth, problem] of [
      [{ agent_keys: false }, /auth\.oauth must be set/],
      [{ oauth: { templates: { reader: { grants: [] } } } }, /at least one grant/],
      [{ oauth: { access_token_ttl: 'soon' } }, /duration/],
      [{ oauth: { templates: { reader: { grants: ['secrets:read'] } } } }, /auth\.oauth\.templates\.reader/],
      [{ oauth: { resource_url: 'ftp://x/mcp' } }, /http\(s\) URL/],
    ] as const) {
      const config = await makeConfig({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }], extra: { auth } });
      try {
        expect(() => loadSettings(config.configPath, {})).toThrow(problem);
      } finally {
        await config.cleanup();
      }
    }
  });
});
