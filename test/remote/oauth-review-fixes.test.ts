/**
 * The security review's findings on OAuth (issue 13) and its merge with config reload (h8),
 * without the browser: the sign-in's human step is the OAuth service's `decide` (what the
 * dashboard's consent page calls), everything else goes over real HTTP to the in-process
 * server with the SDK's own Client.
 *
 *  H8-1  a running session re-resolves its grant at each call, never the whole configured agent
 *  H13-3 tokens asked for under a grant die with it, end no later, and keep on_behalf_of on REST
 *  H13-4 `auth.agent_keys: false` holds on REST too
 *  H13-5 a grant dies when the admin who consented is removed or re-keyed
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import { checkOAuthOrigin, oauthFor, OAuthError, type AgentChoice } from '../../src/server/oauth/index.js';
import { DOCUMENT_REFUSED } from '../../src/server/oauth/service.js';
import { documentAddressAllowed } from '../../src/server/oauth/clients.js';
import { loopbackDocumentsFromEnv, TEST_LOOPBACK_DOCUMENTS_ENV, TEST_LOOPBACK_DOCUMENTS_PURPOSE } from '../../src/server/oauth/test-loopback-documents.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { call } from '../helpers/cli.js';
import { describeApproval } from '../../src/server/approval-details.js';
import { approvalCard } from '../../src/dashboard/pages/approval-card.js';
import { makeConfig, startInProcess, type InProcessServer } from '../helpers/remote-server.js';
import { loadSettings } from '../../src/server/settings.js';
import { openRuntime } from '../../src/server/runtime.js';
import { createLogger } from '../../src/server/logger.js';
import { startHttpServer } from '../../src/server/http/server.js';
import { resolveHttpOptions } from '../../src/server/http/options.js';

const REDIRECT = 'http://127.0.0.1:9/callback';

/** Registers a client, has `admin:admin` consent to `choice`, and exchanges the code. */
async function signIn(server: InProcessServer, choice: AgentChoice): Promise<{ access: string; refresh: string; clientId: string }> {
  const oauth = (await oauthFor(server.runtime))!;
  const { client_id: clientId } = (await oauth.register({ client_name: 'review test', redirect_uris: [REDIRECT] })) as { client_id: string };
  const verifier = randomBytes(32).toString('base64url');
  const params = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256', state: 's' });
  const begun = await oauth.beginAuthorization(params, server.url);
  if (!('pending' in begun)) throw new Error(`authorize refused: ${begun.redirect}`);
  const back = new URL(await oauth.decide(begun.pending.id, 'admin:admin', { approve: true, agent: choice }));
  const tokens = await oauth.token(new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code')!, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier }), server.url);
  return { access: tokens.access_token, refresh: tokens.refresh_token, clientId };
}

async function connect(server: InProcessServer, access: string): Promise<Client> {
  const client = new Client({ name: 'review', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${access}` } } }));
  return client;
}

/** Rewrites the config file (JSON is YAML) as an operator or the dashboard would; the running server follows it. */
async function editConfig(server: InProcessServer, change: (config: Record<string, any>) => void): Promise<void> {
  const config = JSON.parse(readFileSync(server.configPath, 'utf8')) as Record<string, any>;
  change(config);
  // A new size and mtime: the live settings see the change at the next request.
  await writeFile(server.configPath, `${JSON.stringify(config, null, 2)}\n${' '.repeat(Math.floor(Math.random() * 50) + 1)}`, { mode: 0o600 });
}

const auditRecords = (server: InProcessServer): Record<string, unknown>[] =>
  readFileSync(path.join(server.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

const put = (server: InProcessServer, namespace: string, key: string) =>
  server.runtime.backend.put({ namespace, key, value: `value-of-${namespace}/${key}`, secret_type: 'custom', access_tier: 'standard', metadata: {} });

const rest = (server: InProcessServer, p: string, bearer: string, init: RequestInit = {}) =>
  fetch(`${server.url}${p}`, { ...init, headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', ...(init.headers ?? {}) } });

const OAUTH = { auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } } };

describe('OAuth review fixes', () => {
  let server: InProcessServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('H8-1: an open OAuth session keeps the consented grants and on_behalf_of after the agent gains grants', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    await put(server, 'a', 'X');
    await put(server, 'b', 'X');
    const { access } = await signIn(server, { kind: 'existing', id: 'ops' });
    const client = await connect(server, access);
    expect((await call(client, 'get_secret', { namespace: 'a', key: 'X' })).ok).toBe(true);
    // The operator widens ops; the connector was consented for a/** only.
    await editConfig(server, (c) => { c.agents[0].grants = ['secrets:read:**']; });
    const outside = await call(client, 'get_secret', { namespace: 'b', key: 'X' });
    expect(outside).toMatchObject({ ok: false, code: 'POLICY_DENIED' });
    expect((await call(client, 'get_secret', { namespace: 'a', key: 'X' })).ok).toBe(true);
    const reads = auditRecords(server).filter((r) => r.action === 'get_secret');
    expect(reads.length).toBe(3);
    for (const r of reads) expect(r).toMatchObject({ actor: 'agent:ops', on_behalf_of: 'admin:admin' });
    // Removing the agent ends the session at the next call.
    await editConfig(server, (c) => { c.agents[0].id = 'other'; });
    expect((await call(client, 'get_secret', { namespace: 'a', key: 'X' })).ok).toBe(false);
    await client.close().catch(() => undefined);
  });

  it('H8-1: a per-person template agent keeps working in an open session after a config reload', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    await put(server, 'team', 'T');
    const { access } = await signIn(server, { kind: 'template', name: 'reader' });
    const client = await connect(server, access);
    expect((await call(client, 'get_secret', { namespace: 'team', key: 'T' })).ok).toBe(true);
    await editConfig(server, (c) => { c.agents[0].grants = ['secrets:read:**']; });
    const again = await call(client, 'get_secret', { namespace: 'team', key: 'T' });
    expect(again.ok, JSON.stringify(again)).toBe(true);
    const reads = auditRecords(server).filter((r) => r.action === 'get_secret');
    for (const r of reads) expect(r).toMatchObject({ actor: 'agent:reader.admin', on_behalf_of: 'admin:admin', outcome: 'allowed' });
    await client.close();
  });

  it('H13-3: a token asked for under a grant dies with the grant, keeps on_behalf_of on REST, and ends no later than the grant', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: { auth: { oauth: { refresh_token_ttl: '2h', templates: { reader: { grants: ['secrets:read:team/**'] } } } }, tokens: { max_ttl: '24h' } } });
    await put(server, 'team', 'T');
    for (const choice of [{ kind: 'existing', id: 'ops' }, { kind: 'template', name: 'reader' }] as AgentChoice[]) {
      const { access } = await signIn(server, choice);
      const client = await connect(server, access);
      // Longer than the grant's remaining life (2 h): refused with the cap named.
      const tooLong = await call(client, 'request_token', { scopes: ['secrets:read:team/**'], ttl: '3h' });
      expect(tooLong).toMatchObject({ ok: false, code: 'INVALID_ARGUMENT' });
      const issued = await call(client, 'request_token', { scopes: ['secrets:read:team/**'], ttl: '1h' });
      expect(issued.ok, JSON.stringify(issued)).toBe(true);
      const token = (issued as { data: { token: string } }).data.token;
      const read = await rest(server, '/v1/secrets/team/T', token);
      expect(read.status).toBe(200);
      const last = auditRecords(server).filter((r) => r.action === 'get_secret').at(-1)!;
      expect(last).toMatchObject({ on_behalf_of: 'admin:admin', outcome: 'allowed' });
      // The person revokes the sign-in in the dashboard: the token stops at once.
      const oauth = (await oauthFor(server.runtime))!;
      const grant = (await oauth.listGrants()).find((g) => !g.revoked_at)!;
      expect(await oauth.revokeGrant(grant.id, 'admin:admin')).toBe(true);
      const after = await rest(server, '/v1/secrets/team/T', token);
      expect(after.status).toBe(401);
      expect(await after.text()).not.toContain('value-of');
      await client.close().catch(() => undefined);
    }
  });

  it('H13-4: auth.agent_keys: false refuses an agent key on REST (POST /v1/tokens) and tokens it asked for earlier', async () => {
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:read:team/**'] }], extra: { auth: { agent_keys: true, oauth: {} } } });
    await put(server, 'team', 'T');
    const key = server.keys.bot!;
    const asked = await rest(server, '/v1/tokens', key, { method: 'POST', body: JSON.stringify({ scopes: ['secrets:read:team/**'], ttl: '1h' }) });
    expect(asked.status).toBe(200);
    const { token } = (await asked.json()) as { token: string };
    expect((await rest(server, '/v1/secrets/team/T', token)).status).toBe(200);
    await editConfig(server, (c) => { c.auth.agent_keys = false; });
    // auth is a restart-only section: start a second runtime on the edited file, as a restart would.
    await server.close();
    server = undefined;
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:read:team/**'] }], extra: { auth: { agent_keys: false, oauth: {} } } });
    const off = await rest(server, '/v1/tokens', server.keys.bot!, { method: 'POST', body: JSON.stringify({ scopes: ['secrets:read:team/**'], ttl: '1h' }) });
    expect(off.status).toBe(401);
    expect(((await off.json()) as { error: { message: string } }).error.message).toMatch(/auth\.agent_keys: false/);
  });

  it('H13-4: a token an agent key asked for stops when agent keys are turned off', async () => {
    server = await startInProcess({ agents: [{ id: 'bot', grants: ['secrets:read:team/**'] }], extra: { auth: { agent_keys: false, oauth: {} } } });
    await put(server, 'team', 'T');
    // Issued directly (as it would have been before the switch): the same signing key and state.
    const issued = await server.runtime.tokens.issue({ agentId: 'bot', keySha256: hashKey(server.keys.bot!), scopes: ['secrets:read:team/**'], ttlMs: 3_600_000 });
    const read = await rest(server, '/v1/secrets/team/T', issued.token);
    expect(read.status).toBe(401);
    expect(await read.text()).toMatch(/auth\.agent_keys: false/);
  });

  it('H13-5: a grant dies when the consenting admin is removed or given a new key (calls 401, refresh invalid_grant)', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH });
    await put(server, 'team', 'T');
    const oauth = (await oauthFor(server.runtime))!;
    const mcpStatus = async (access: string) => (await fetch(`${server!.url}/mcp`, { method: 'POST', headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 't', version: '1' } } }) })).status;
    const refresh = (r: string, clientId: string) => oauth.token(new URLSearchParams({ grant_type: 'refresh_token', refresh_token: r, client_id: clientId }), server!.url);

    // Re-keyed: the same id, a new key.
    const first = await signIn(server, { kind: 'existing', id: 'ops' });
    expect(await mcpStatus(first.access)).toBe(200);
    const client = await connect(server, first.access);
    await editConfig(server, (c) => { c.admins = [{ id: 'admin', key_sha256: hashKey(generateAdminKey()) }]; });
    expect(await mcpStatus(first.access)).toBe(401);
    expect((await call(client, 'get_secret', { namespace: 'team', key: 'T' })).ok).toBe(false);
    await expect(refresh(first.refresh, first.clientId)).rejects.toMatchObject({ error: 'invalid_grant' });
    await client.close().catch(() => undefined);

    // Removed: another admin stays, the consenting one goes.
    const second = await signIn(server, { kind: 'template', name: 'reader' });
    expect(await mcpStatus(second.access)).toBe(200);
    await editConfig(server, (c) => { c.admins = [{ id: 'someone-else', key_sha256: hashKey(generateAdminKey()) }]; });
    expect(await mcpStatus(second.access)).toBe(401);
    await expect(refresh(second.refresh, second.clientId)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('H13×H8: issuer, endpoints and audience come from dashboard.public_url behind a TLS proxy', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], dashboard: { public_url: 'https://secrets.example.test/' }, extra: OAUTH });
    const as = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, string>;
    expect(as).toMatchObject({ issuer: 'https://secrets.example.test', authorization_endpoint: 'https://secrets.example.test/oauth/authorize', token_endpoint: 'https://secrets.example.test/oauth/token' });
    const pr = (await (await fetch(`${server.url}/.well-known/oauth-protected-resource/mcp`)).json()) as { resource: string; authorization_servers: string[] };
    expect(pr).toMatchObject({ resource: 'https://secrets.example.test/mcp', authorization_servers: ['https://secrets.example.test'] });
    // resource_url, when set, wins.
    await server.close();
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], dashboard: { public_url: 'https://secrets.example.test/' }, extra: { auth: { oauth: { resource_url: 'https://mcp.example.test/mcp' } } } });
    expect(((await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as { issuer: string }).issuer).toBe('https://mcp.example.test');
  });

  it('H13×H8: OAuth on a non-loopback plain-http listener without a public URL refuses to start', async () => {
    for (const [extra, host, refused] of [
      [{}, '0.0.0.0', true],
      [{}, '127.0.0.1', false],
      [{ dashboard: { public_url: 'https://secrets.example.test' } }, '0.0.0.0', false],
    ] as const) {
      const config = await makeConfig({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], http: { allowed_origins: ['https://secrets.example.test'] }, ...extra, extra: OAUTH });
      const settings = loadSettings(config.configPath, {});
      const runtime = await openRuntime(settings, createLogger('error'));
      try {
        if (refused) {
          // Refused before it listens.
          await expect(startHttpServer(runtime, resolveHttpOptions(settings.config.http, { host, port: 0 }))).rejects.toThrow(/auth\.oauth on a plain-http listener \(0\.0\.0\.0\) needs the public https URL/);
        } else {
          // Checked without listening: the test binds nothing beyond loopback.
          expect(() => checkOAuthOrigin(settings, 'http', host)).not.toThrow();
        }
      } finally {
        await runtime.close();
        await config.cleanup();
      }
    }
  });

  /** A loopback TCP listener that only counts connections (nothing may reach it). */
  async function connectionCounter(): Promise<{ port: number; count: () => number; close: () => Promise<void> }> {
    let connections = 0;
    const sockets = new Set<Socket>();
    const listener = createTcpServer((socket) => {
      connections += 1;
      sockets.add(socket);
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    return { port: (listener.address() as AddressInfo).port, count: () => connections, close: () => new Promise((resolve) => listener.close(() => resolve())) };
  }

  const authorizeWith = async (server: InProcessServer, clientId: string): Promise<unknown> => {
    const oauth = (await oauthFor(server.runtime))!;
    const params = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
    return oauth.beginAuthorization(params, server.url).then(() => 'accepted', (error: unknown) => error);
  };

  it('H13-2: a client_id naming a loopback, private or link-local address is refused before any connection, with one generic error', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH });
    const counter = await connectionCounter();
    try {
      for (const id of [`https://127.0.0.1:${counter.port}/doc`, `https://localhost:${counter.port}/doc`, `https://127.9.9.9:${counter.port}/doc`, `https://[::1]:${counter.port}/doc`, 'https://10.0.0.5:8443/x', 'https://169.254.169.254/latest/meta-data', 'https://[::ffff:a9fe:a9fe]/x', 'https://[fd00::1]/x', 'https://100.64.0.1/x', 'https://0.0.0.0/x']) {
        const error = await authorizeWith(server, id);
        expect(error, id).toBeInstanceOf(OAuthError);
        expect((error as OAuthError).description, id).toBe(DOCUMENT_REFUSED);
      }
      expect(counter.count()).toBe(0);
    } finally {
      await counter.close();
    }
  });

  it('H13-2: the address check (after DNS) refuses every non-public range; loopback only with the test switch', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'fd00::1', 'fc00::1', 'fe80::1', 'ff02::1', '64:ff9b::a00:1', '2002:a00:1::1', 'not-an-ip']) {
      expect(documentAddressAllowed(address), address).toBe(false);
    }
    for (const address of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111']) expect(documentAddressAllowed(address), address).toBe(true);
    expect(documentAddressAllowed('127.0.0.1', true)).toBe(true);
    expect(documentAddressAllowed('::1', true)).toBe(true);
    for (const address of ['10.0.0.5', '169.254.169.254', '::ffff:127.0.0.1', 'fd00::1']) expect(documentAddressAllowed(address, true), address).toBe(false);
  });

  it('H13-2: the loopback test switch is refused unless it names a private marker file in the temp folder; with it, loopback is reached', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ass-loopback-switch-'));
    const saved = process.env[TEST_LOOPBACK_DOCUMENTS_ENV];
    const counter = await connectionCounter();
    try {
      const file = path.join(dir, 'switch.json');
      expect(loopbackDocumentsFromEnv({})).toBe(false);
      expect(() => loopbackDocumentsFromEnv({ [TEST_LOOPBACK_DOCUMENTS_ENV]: '1' })).toThrow(/test-only setting/);
      await writeFile(file, JSON.stringify({ purpose: 'something else' }), { mode: 0o600 });
      expect(() => loopbackDocumentsFromEnv({ [TEST_LOOPBACK_DOCUMENTS_ENV]: file })).toThrow(/does not say "purpose"/);
      await writeFile(file, JSON.stringify({ purpose: TEST_LOOPBACK_DOCUMENTS_PURPOSE }), { mode: 0o600 });
      await chmod(file, 0o644);
      expect(() => loopbackDocumentsFromEnv({ [TEST_LOOPBACK_DOCUMENTS_ENV]: file })).toThrow(/not private/);
      await chmod(file, 0o600);
      expect(loopbackDocumentsFromEnv({ [TEST_LOOPBACK_DOCUMENTS_ENV]: file })).toBe(true);
      // A half-set switch refuses the start of serve --http.
      process.env[TEST_LOOPBACK_DOCUMENTS_ENV] = path.join(dir, 'missing.json');
      await expect(startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH })).rejects.toThrow(/not a regular file/);
      // Set: a loopback document URL is fetched (the counter sees it; it is no TLS server, so still refused), private ranges still are not.
      process.env[TEST_LOOPBACK_DOCUMENTS_ENV] = file;
      server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH });
      expect(((await authorizeWith(server, `https://127.0.0.1:${counter.port}/doc`)) as OAuthError).description).toBe(DOCUMENT_REFUSED);
      expect(counter.count()).toBe(1);
      // Cached: a second authorize naming the same URL does not fetch again.
      expect(((await authorizeWith(server, `https://127.0.0.1:${counter.port}/doc`)) as OAuthError).description).toBe(DOCUMENT_REFUSED);
      expect(counter.count()).toBe(1);
      expect(((await authorizeWith(server, 'https://10.0.0.5:8443/x')) as OAuthError).description).toBe(DOCUMENT_REFUSED);
    } finally {
      if (saved === undefined) delete process.env[TEST_LOOPBACK_DOCUMENTS_ENV];
      else process.env[TEST_LOOPBACK_DOCUMENTS_ENV] = saved;
      await counter.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('H13-6: a per-person agent id is never cut short, and a configured agent taking its id ends the grant', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    const oauth = (await oauthFor(server.runtime))!;
    const { client_id: clientId } = (await oauth.register({ client_name: 'long', redirect_uris: [REDIRECT] })) as { client_id: string };
    const begin = async () => {
      const begun = await oauth.beginAuthorization(new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' }), server!.url);
      return (begun as { pending: { id: string } }).pending.id;
    };
    // reader.<63 chars> would be 70 characters: two such people would share an agent if it were cut to 64.
    await expect(oauth.decide(await begin(), `admin:${'a'.repeat(62)}1`, { approve: true, agent: { kind: 'template', name: 'reader' } })).rejects.toMatchObject({ error: 'invalid_request' });
    const { access } = await signIn(server, { kind: 'template', name: 'reader' });
    const client = await connect(server, access);
    await put(server, 'team', 'T');
    expect((await call(client, 'get_secret', { namespace: 'team', key: 'T' })).ok).toBe(true);
    await editConfig(server, (c) => { c.agents.push({ id: 'reader.admin', key_sha256: hashKey('ass_agent_' + 'x'.repeat(40)), grants: ['secrets:read:**'], deny: [] }); });
    expect((await call(client, 'get_secret', { namespace: 'team', key: 'T' })).ok).toBe(false);
    await client.close().catch(() => undefined);
  });

  it('H13-7: errors for a dynamic client no person allowed are shown, not redirected; register and authorize are limited per address', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:a/**'] }], extra: OAUTH });
    const oauth = (await oauthFor(server.runtime))!;
    const { client_id: clientId } = (await oauth.register({ client_name: 'fresh', redirect_uris: [REDIRECT] })) as { client_id: string };
    const noPkce = new URLSearchParams({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code' });
    await expect(oauth.beginAuthorization(noPkce, server.url)).rejects.toMatchObject({ error: 'invalid_request' });
    // Once a person allowed the client, its errors go back to it (RFC 6749 §4.1.2.1).
    const known = await signIn(server, { kind: 'existing', id: 'ops' });
    const back = await oauth.beginAuthorization(new URLSearchParams({ client_id: known.clientId, redirect_uri: REDIRECT, response_type: 'code' }), server.url);
    expect('redirect' in back && new URL(back.redirect).searchParams.get('error')).toBe('invalid_request');

    // The burst goes through, then the address is refused (bounded loops: refill is slow, not timed).
    const statuses: number[] = [];
    while (statuses.length < 200 && statuses.at(-1) !== 429) {
      statuses.push((await fetch(`${server.url}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ client_name: `c${statuses.length}`, redirect_uris: [REDIRECT] }) })).status);
    }
    expect(statuses.slice(0, 10).every((s) => s === 201)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    const authorize: number[] = [];
    while (authorize.length < 1000 && authorize.at(-1) !== 429) authorize.push((await fetch(`${server.url}/oauth/authorize?client_id=x`, { redirect: 'manual' })).status);
    expect(authorize.slice(0, 60).includes(429)).toBe(false);
    expect(authorize.at(-1)).toBe(429);
  });

  it('H13-8: an approval an OAuth connector asks for names the person, and the approval page tells that person it is their own app', async () => {
    server = await startInProcess({ agents: [{ id: 'ops', grants: ['secrets:read:team/**'] }], extra: OAUTH });
    await server.runtime.backend.put({ namespace: 'team', key: 'ROOT', value: 'critical-value', secret_type: 'custom', access_tier: 'critical', metadata: {} });
    const { access } = await signIn(server, { kind: 'existing', id: 'ops' });
    const client = await connect(server, access);
    expect(await call(client, 'get_secret', { namespace: 'team', key: 'ROOT' })).toMatchObject({ ok: false, code: 'APPROVAL_REQUIRED' });
    await client.close();
    const approval = (await server.runtime.approvals.list())[0]?.approval;
    expect(approval!.on_behalf_of).toBe('admin:admin');
    const details = await describeApproval(server.runtime, approval!);
    const own = approvalCard(details, new Date(), { csrf: 'c', adminId: 'admin' }, { heading: 'h2', link: false }).toString();
    expect(own).toContain('for <code>admin:admin</code>');
    expect(own).toContain('This app acts for you');
    const other = approvalCard(details, new Date(), { csrf: 'c', adminId: 'bob' }, { heading: 'h2', link: false }).toString();
    expect(other).toContain('for <code>admin:admin</code>');
    expect(other).not.toContain('This app acts for you');
  });
});
