/**
 * REST errors name REST endpoints, not MCP tools (issue 9, "Errors a user meets"): before, a
 * REST caller was told to "Use get_approval_status", "Call request_token" or "Use
 * list_secrets". The MCP wording is unchanged (the seed conversation tests check it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type RawResponse } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let server: InProcessServer;
const TOOL_NAMES = /get_approval_status|request_token|list_secrets|get_secret|set_secret/;

const call = (method: string, path: string, bearer?: string, body?: unknown): Promise<RawResponse> =>
  raw({
    url: server.url, method, path,
    headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
const json = (res: RawResponse) => JSON.parse(res.body);

beforeAll(async () => {
  server = await startInProcess({ agents: [{ id: 'alpha', grants: ['secrets:*:alpha/**'] }] });
});
afterAll(async () => server?.close());

describe('REST wording', () => {
  it('approval required, a missing secret, a bad token and a token beyond the grants name /v1 endpoints', async () => {
    const token = json(await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:alpha/**'] })).token as string;
    // Critical after the token was issued (a token whose scopes reach it would need a human at
    // token time), so the read itself answers APPROVAL_REQUIRED.
    await server.runtime.backend.put({ namespace: 'alpha/app', key: 'ROOT_KEY', value: 'wording-critical', secret_type: 'api_key', access_tier: 'critical', metadata: {} });

    const approval = await call('GET', '/v1/secrets/alpha/app/ROOT_KEY', token);
    const approvalError = json(approval).error;
    expect(approvalError.code).toBe('APPROVAL_REQUIRED');
    expect(approvalError.message).toContain(`GET /v1/approvals/${approvalError.approval_id}`);
    expect(approvalError.message).not.toMatch(TOOL_NAMES);

    const missing = json(await call('GET', '/v1/secrets/alpha/app/NOPE', token)).error;
    expect(missing.code).toBe('SECRET_NOT_FOUND');
    expect(missing.message).toContain("GET /v1/secrets?namespace=alpha/app");
    expect(missing.message).not.toMatch(TOOL_NAMES);

    const forged = `${token.slice(0, -4)}AAAA`;
    const bad = json(await call('GET', '/v1/secrets/alpha/app/NOPE', forged)).error;
    expect(bad.code).toBe('UNAUTHENTICATED');
    expect(bad.message).toContain('POST /v1/tokens');
    expect(bad.message).not.toMatch(TOOL_NAMES);

    const beyond = await call('POST', '/v1/tokens', server.keys.alpha, { scopes: ['secrets:read:other/**'] });
    expect(beyond.status).toBe(202);
    expect(json(beyond).message).toContain(`GET /v1/approvals/${json(beyond).approval_id}`);
    expect(json(beyond).message).not.toMatch(TOOL_NAMES);
  });
});
