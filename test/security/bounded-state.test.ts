/**
 * Issue 9, findings 1, 2 and 8: no agent can grow the server's state without bound or spend
 * more than its rate limit, and a token never names what the agent is denied. Real components:
 * the HTTP server in-process on 127.0.0.1:0, REST and raw JSON-RPC over real sockets, the MCP
 * server with a real SDK Client, the real file backend and state store. No timing assertions.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { raw } from '../helpers/remote-http.js';
import { serverScope } from '../helpers/server-scope.js';

const { http, mcp, rest } = serverScope();

const scope = (i: number) => `secrets:read:elsewhere/n${i}/KEY`;

describe('finding 1: pending approvals are capped per agent', () => {
  it('refuses the 11th open request with TOO_MANY_PENDING naming the cap (429 on REST), and takes none of its state', async () => {
    const server = await http({ agents: [{ id: 'nogrants', grants: [] }] });
    for (let i = 0; i < 10; i++) {
      const res = await rest(server, 'POST', '/v1/tokens', server.keys.nogrants!, { scopes: [scope(i)] });
      expect(res.status, res.body).toBe(202);
    }
    const refused = await rest(server, 'POST', '/v1/tokens', server.keys.nogrants!, { scopes: [scope(10)] });
    expect(refused.status).toBe(429);
    const error = JSON.parse(refused.body).error;
    expect(error).toMatchObject({ code: 'TOO_MANY_PENDING', retryable: true, cap: 'approvals.max_pending_per_agent', limit: 10, pending: 10 });
    expect(error.message).toMatch(/the cap is 10 \(approvals\.max_pending_per_agent\)/);
    expect((await server.runtime.state.listApprovals())).toHaveLength(10);
    // A retry of an open request is not a new one: it is answered with the same id.
    const again = await rest(server, 'POST', '/v1/tokens', server.keys.nogrants!, { scopes: [scope(3)] });
    expect(again.status).toBe(202);
  });

  it('counts only open requests: once a human denies one, the agent may ask again', async () => {
    const env = await mcp({ agentYaml: '    grants: []', extraYaml: 'approvals: { max_pending_per_agent: 2 }' });
    const ask = (i: number) => env.client.callTool({ name: 'request_token', arguments: { scopes: [scope(i)] } });
    const first = (await ask(0)).structuredContent as { approval_id: string };
    await ask(1);
    const third = await ask(2);
    expect(third.isError).toBe(true);
    expect((third._meta as Record<string, { code: string }>)['agent-secret-store/error']!.code).toBe('TOO_MANY_PENDING');
    await env.runtime.approvals.deny(first.approval_id, 'admin');
    expect((await ask(2)).isError).toBeFalsy();
    // A request nobody answers stops counting when it lapses (15 minutes by default).
    env.advance(15 * 60_000 + 1);
    expect((await ask(3)).isError).toBeFalsy();
  });

  it('caps the bytes of the open requests too', async () => {
    const env = await mcp({ agentYaml: '    grants: []', extraYaml: 'approvals: { max_pending_bytes_per_agent: 4096 }' });
    const long = (i: number, j: number) => `secrets:read:${'a'.repeat(100)}/${'b'.repeat(100)}/${'c'.repeat(100)}/K${i}x${j}`;
    const ask = (i: number) => env.client.callTool({ name: 'request_token', arguments: { scopes: Array.from({ length: 5 }, (_, j) => long(i, j)) } });
    expect((await ask(0)).isError).toBeFalsy();
    expect((await ask(1)).isError).toBeFalsy();
    const refused = await ask(2);
    expect(refused.isError).toBe(true);
    expect((refused.content as { text: string }[])[0]!.text).toMatch(/the cap is 4096 bytes \(approvals\.max_pending_bytes_per_agent\)/);
  });

  it('bounds scopes per request and characters per scope on REST as on MCP', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: [] }] });
    const many = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: Array.from({ length: 21 }, (_, i) => scope(i)) });
    expect(many.status).toBe(400);
    expect(JSON.parse(many.body).error.message).toMatch(/scopes/);
    const long = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: [`secrets:read:${'a/'.repeat(300)}K`] });
    expect(long.status).toBe(400);
    expect((await server.runtime.state.listApprovals())).toHaveLength(0);
  });

  it('records a count and digest of the scopes in the audit reason, not a copy', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:read:mine/*"]' });
    await env.client.callTool({ name: 'request_token', arguments: { scopes: ['secrets:read:mine/*'] } });
    await env.client.callTool({ name: 'request_token', arguments: { scopes: ['secrets:read:theirs/very-distinctive-name/*', 'secrets:read:x/*'] } });
    const records = readFileSync(join(env.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.action === 'request_token');
    expect(records.map((r) => r.outcome)).toEqual(['token_issued', 'approval_requested']);
    expect(records[0].reason).toMatch(/^1 scope, sha256:[0-9a-f]{16}$/);
    expect(records[1].reason).toMatch(/^2 scopes, sha256:[0-9a-f]{16}$/);
    expect(readFileSync(join(env.dir, 'audit.log'), 'utf8')).not.toContain('very-distinctive-name');
  });

  it('drops a request that lapsed unanswered within hours, not 7 days', async () => {
    const env = await mcp({ agentYaml: '    grants: []' });
    const asked = (await env.client.callTool({ name: 'request_token', arguments: { scopes: [scope(0)] } })).structuredContent as { approval_id: string };
    env.advance(15 * 60_000 + 1);
    const status = await env.client.callTool({ name: 'get_approval_status', arguments: { approval_id: asked.approval_id } });
    expect(status.structuredContent).toMatchObject({ status: 'expired' });
    env.advance(2 * 3_600_000);
    // Any transaction prunes: here another request.
    await env.client.callTool({ name: 'request_token', arguments: { scopes: [scope(1)] } });
    expect(await env.runtime.state.getApproval(asked.approval_id)).toBeUndefined();
  });
});

describe('finding 2: a JSON-RPC batch pays for every message', () => {
  it('refuses a batch of 10 tool calls with a burst of 5 before running any of them', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }], http: { rate_limit: { per_minute: 1, burst: 5 } } });
    await server.runtime.backend.put({ namespace: 'app', key: 'K', value: 'batch-canary', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const headers = { 'x-agent-key': server.keys.bot!, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
    const init = await raw({
      url: server.url, method: 'POST', path: '/mcp', headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 'batch', version: '1' } } }),
    });
    expect(init.status).toBe(200);
    const session = { ...headers, 'mcp-session-id': init.headers['mcp-session-id'] as string, 'mcp-protocol-version': '2025-03-26' };
    await raw({ url: server.url, method: 'POST', path: '/mcp', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
    const auditPath = server.runtime.settings.auditPath;
    const auditLines = () => (existsSync(auditPath) ? readFileSync(auditPath, 'utf8').split('\n').filter((l) => l.includes('"get_secret"')).length : 0);
    const batchOf = (n: number) => Array.from({ length: n }, (_, i) => ({ jsonrpc: '2.0', id: i + 1, method: 'tools/call', params: { name: 'get_secret', arguments: { namespace: 'app', key: 'K' } } }));
    // Within the budget a batch is served (initialize and initialized took 2 of the 5).
    const small = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: session, body: JSON.stringify(batchOf(2)) });
    expect(small.status).toBe(200);
    expect(auditLines()).toBe(2);
    const res = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: session, body: JSON.stringify(batchOf(10)) });
    expect(res.status).toBe(429);
    expect(JSON.parse(res.body).error.code).toBe('RATE_LIMITED');
    expect(res.body).not.toContain('batch-canary');
    expect(auditLines()).toBe(2);
    expect(await server.handle.metrics.render({ approvalsPending: 0, sessions: { streamable_http: 1, sse: 0 } })).toMatch(/rate_limited_total\{transport="streamable_http"\} 1/);
  });
});

describe('finding 8: tokens and listings stay within what the policy reaches', () => {
  it('request_token refuses a scope the agent is explicitly denied, naming the deny rule', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:read:production/**"]\n    deny: ["secrets:read:production/stripe/*"]' });
    const res = await env.client.callTool({ name: 'request_token', arguments: { scopes: ['secrets:read:production/gemini/*', 'secrets:read:production/stripe/KEY'] } });
    expect(res.isError).toBe(true);
    expect((res.content as { text: string }[])[0]!.text).toMatch(/secrets:read:production\/stripe\/KEY' is denied to this agent by secrets:read:production\/stripe\/\*/);
    expect((await env.runtime.state.listTokens())).toHaveLength(0);
    // Beyond the grants (a human would be asked) it is refused too: no approval is opened.
    const beyond = await env.client.callTool({ name: 'request_token', arguments: { scopes: ['secrets:*:production/stripe/KEY'] } });
    expect(beyond.isError).toBe(true);
    expect((beyond.content as { text: string }[])[0]!.text).toMatch(/is denied to this agent/);
    expect((await env.runtime.state.listApprovals())).toHaveLength(0);
    // namespaces:read reaches no secret, so no secret deny covers it: it is issued.
    const names = await env.client.callTool({ name: 'request_token', arguments: { scopes: ['namespaces:read'] } });
    expect(names.isError, JSON.stringify(names.content)).toBeFalsy();
    expect((await env.runtime.state.listTokens())).toHaveLength(1);
  });

  it('a wildcard list grant shows only namespaces it reaches, not every top-level name', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:list:*/public"]' });
    const put = (namespace: string, key: string) => env.runtime.backend.put({ namespace, key, value: 'v', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    await put('team-a', 'public');
    await put('team-b', 'private');
    await put('secret-project/inner', 'public');
    const res = await env.client.callTool({ name: 'list_namespaces', arguments: {} });
    expect(res.structuredContent).toEqual({ namespaces: ['team-a'], total: 1 });
  });
});

describe('finding 1: a token-authenticated REST call does not rewrite the state', () => {
  it('five reads with a token without max_uses leave the state untouched; with max_uses each is counted', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:read:app/*'] }] });
    await server.runtime.backend.put({ namespace: 'app', key: 'K', value: 'v', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const tokenFor = async (body: unknown) => JSON.parse((await rest(server, 'POST', '/v1/tokens', server.keys.bot!, body)).body).token as string;
    const unlimited = await tokenFor({ scopes: ['secrets:read:app/*'] });
    const limited = await tokenFor({ scopes: ['secrets:read:app/*'], max_uses: 3 });
    const before = await server.runtime.state.changeMarker();
    const tokenFiles = () => readdirSync(join(server.runtime.settings.stateDir, 'tokens')).map((f) => `${f}:${statSync(join(server.runtime.settings.stateDir, 'tokens', f)).mtimeMs}`);
    const filesBefore = tokenFiles();
    for (let i = 0; i < 5; i++) expect((await rest(server, 'GET', '/v1/secrets/app/K', unlimited)).status).toBe(200);
    expect(await server.runtime.state.changeMarker()).toBe(before);
    expect(tokenFiles()).toEqual(filesBefore);
    for (let i = 0; i < 3; i++) expect((await rest(server, 'GET', '/v1/secrets/app/K', limited)).status).toBe(200);
    expect((await rest(server, 'GET', '/v1/secrets/app/K', limited)).status).toBe(401);
    // Revocation still holds for the uncounted token.
    const id = (await server.runtime.state.listTokens()).find((t) => t.max_uses === undefined)!.id;
    expect(await server.runtime.state.revokeToken(id, new Date())).toBe(true);
    expect((await rest(server, 'GET', '/v1/secrets/app/K', unlimited)).status).toBe(401);
  });
});

describe('finding 1: live tokens are capped per agent', () => {
  it('refuses a token beyond tokens.max_active_per_agent with TOO_MANY_TOKENS, and issues again once one expired', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:read:app/*"]', extraYaml: 'tokens: { max_active_per_agent: 3 }' });
    const ask = (ttl: string) => env.client.callTool({ name: 'request_token', arguments: { scopes: ['secrets:read:app/*'], ttl } });
    expect((await ask('15m')).isError).toBeFalsy();
    expect((await ask('1h')).isError).toBeFalsy();
    expect((await ask('1h')).isError).toBeFalsy();
    const refused = await ask('1h');
    expect(refused.isError).toBe(true);
    expect((refused._meta as Record<string, { code: string }>)['agent-secret-store/error']!.code).toBe('TOO_MANY_TOKENS');
    expect((refused.content as { text: string }[])[0]!.text).toMatch(/the cap is 3 \(tokens\.max_active_per_agent\)/);
    expect((await env.runtime.state.listTokens())).toHaveLength(3);
    env.advance(15 * 60_000 + 1);
    expect((await ask('1h')).isError).toBeFalsy();
  });

  it('answers 429 on REST', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:read:app/*'] }], extra: { tokens: { max_active_per_agent: 1 } } });
    expect((await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:read:app/*'] })).status).toBe(200);
    const refused = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:read:app/*'] });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body).error).toMatchObject({ code: 'TOO_MANY_TOKENS', cap: 'tokens.max_active_per_agent', limit: 1 });
  });
});
