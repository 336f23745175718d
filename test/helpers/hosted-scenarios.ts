/**
 * The scenarios the hosted product's own clients must pass against a target (see
 * hosted-targets.ts), unchanged: every tool of their MCP server through a real MCP client
 * (including the seed's approval path with our CLI approving), and every AgentVault method and
 * error class of their SDK. Each suite file runs them against one kind of target.
 */
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectHostedMcp, loadHostedSdk, type HostedClients, type HostedSdk } from './hosted-clients.js';
import { CRITICAL, startTarget, type Target } from './hosted-targets.js';

/** A tool's answer: their server puts the REST body, as JSON text, in the first content item. */
async function tool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<any> {
  const result = (await client.callTool({ name, arguments: args })) as { content: Array<{ type: string; text: string }>; isError?: boolean };
  expect(result.isError, JSON.stringify(result)).toBeFalsy();
  return JSON.parse(result.content[0]!.text);
}

/** A tool call their server refuses (it throws an McpError, so the client rejects): the message. */
async function refused(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  try {
    const result = await client.callTool({ name, arguments: args });
    throw new Error(`${name} unexpectedly answered ${JSON.stringify(result)}`);
  } catch (error) {
    return (error as Error).message;
  }
}

const APPROVAL = /Human approval required\. Approval ID: ([0-9a-f-]{36})\. Use get_approval_status/;

export function hostedMcpScenarios(kind: Target['kind'], clients: HostedClients): void {
  describe(`the official MCP server (@agentsecretstore/mcp, unchanged) → ${kind}`, () => {
    let target: Target;
    let claude: Awaited<ReturnType<typeof connectHostedMcp>>;
    let other: Awaited<ReturnType<typeof connectHostedMcp>>;
    beforeAll(async () => {
      target = await startTarget(kind);
      claude = await connectHostedMcp(clients, target.url, target.keys.claude!);
      other = await connectHostedMcp(clients, target.url, target.keys.other!);
    });
    afterAll(async () => {
      await claude?.close();
      await other?.close();
      await target?.stop();
    });

    it('lists its eight tools', async () => {
      const { tools } = await claude.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual(['delete_secret', 'get_approval_status', 'get_secret', 'list_namespaces', 'list_secrets', 'request_token', 'rotate_secret', 'set_secret']);
    });

    it('set_secret, get_secret, list_secrets and list_namespaces work through our REST API', async () => {
      const set = await tool(claude.client, 'set_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive' });
      expect(set).toMatchObject({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 1, secret_type: 'api_key', access_tier: 'sensitive', id: expect.any(String), created_at: expect.any(String) });
      const got = await tool(claude.client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' });
      expect(got).toMatchObject({ value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive', version: 1 });
      const second = await tool(claude.client, 'set_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'gemini-api-key-v2', secret_type: 'api_key', access_tier: 'sensitive' });
      expect(second.version).toBe(2);
      const listed = await tool(claude.client, 'list_secrets', { namespace: 'production/gemini' });
      expect(listed).toMatchObject({ namespace: 'production/gemini', total: 1, items: [{ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 2, access_tier: 'sensitive' }] });
      expect(JSON.stringify(listed)).not.toContain('gemini-api-key');
      const namespaces = await tool(claude.client, 'list_namespaces');
      expect(namespaces.namespaces).toEqual(expect.arrayContaining(['production/gemini', 'production/stripe']));
      expect(namespaces.total).toBe(namespaces.namespaces.length);
      // The other agent sees none of claude's namespaces.
      expect((await tool(other.client, 'list_namespaces')).namespaces).toEqual([]);
    });

    it("our errors reach the agent in our words (their server reads `detail`), never as a bare HTTP status", async () => {
      const missing = await refused(claude.client, 'get_secret', { namespace: 'production/gemini', key: 'NOPE' });
      // Their server relays our REST error text: it names the REST endpoint to use next.
      expect(missing).toMatch(/No secret 'NOPE' in 'production\/gemini'\. Use GET \/v1\/secrets\?namespace=production\/gemini/);
      const denied = await refused(claude.client, 'get_secret', { namespace: 'production/hr', key: 'SALARIES' });
      expect(denied).not.toMatch(/HTTP \d{3}/);
      expect(denied).toMatch(/denied|not allowed|do not/i);
      const traversal = await refused(claude.client, 'get_secret', { namespace: 'production/../staging', key: 'X' });
      expect(traversal).toMatch(/Invalid (scope|namespace)/);
    });

    it('delete_secret and rotate_secret answer requires_human_auth and never act', async () => {
      expect(await tool(claude.client, 'delete_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).toMatchObject({ requires_human_auth: true });
      expect(await tool(claude.client, 'rotate_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).toMatchObject({ requires_human_auth: true });
      expect(await tool(claude.client, 'get_secret', { namespace: 'production/gemini', key: 'GEMINI_API_KEY' })).toMatchObject({ value: 'gemini-api-key-v2', version: 2 });
    });

    it('request_token issues a token for covered standard scopes, and answers requires_approval for a critical one', async () => {
      const issued = await tool(claude.client, 'request_token', { scopes: ['secrets:read:production/gemini/*'], ttl: '15m' });
      expect(issued).toMatchObject({ token: expect.stringMatching(/^eyJ/), scopes: ['secrets:read:production/gemini/*'], ttl: '15m' });
      const gated = await tool(claude.client, 'request_token', { scopes: [`secrets:read:${CRITICAL.namespace}/*`] });
      expect(gated).toMatchObject({ requires_approval: true, approval_id: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    });

    it("the seed's conversation: a critical secret → approval id → get_approval_status → a human approves with our CLI → the retry succeeds", async () => {
      const args = { namespace: CRITICAL.namespace, key: CRITICAL.key };
      const first = await refused(claude.client, 'get_secret', args);
      const match = APPROVAL.exec(first);
      expect(match, first).not.toBeNull();
      expect(first).not.toContain(CRITICAL.value);
      const approvalId = match![1]!;
      expect(await tool(claude.client, 'get_approval_status', { approval_id: approvalId })).toMatchObject({ status: 'pending', expires_at: expect.any(String) });
      // Another agent's id answers as an unknown one.
      expect(await refused(other.client, 'get_approval_status', { approval_id: approvalId })).toMatch(/No approval request/);
      // Retrying before a human answers: the same pending request, still no value.
      expect(APPROVAL.exec(await refused(claude.client, 'get_secret', args))?.[1]).toBe(approvalId);
      await target.approve(approvalId);
      expect(await tool(claude.client, 'get_approval_status', { approval_id: approvalId })).toMatchObject({ status: 'approved', resolved_at: expect.any(String) });
      expect(await tool(claude.client, 'get_secret', args)).toMatchObject({ value: CRITICAL.value, access_tier: 'critical' });
    });
  });
}

export function hostedSdkScenarios(kind: Target['kind'], clients: HostedClients): void {
  const sdk: HostedSdk = loadHostedSdk(clients);
  describe(`the official SDK (@agentsecretstore/sdk AgentVault, unchanged) → ${kind}`, () => {
    let target: Target;
    const vault = (key = target.keys.claude!) => new sdk.AgentVault({ agentKey: key, baseUrl: target.url, retries: 0, timeout: 20_000 });
    beforeAll(async () => {
      target = await startTarget(kind);
    });
    afterAll(async () => target?.stop());

    async function rejection(promise: Promise<unknown>): Promise<any> {
      try {
        await promise;
      } catch (error) {
        return error;
      }
      throw new Error('expected a rejection');
    }

    it('requestToken, plain and with maxUses and ipAllowlist (enforced against the client address)', async () => {
      const v = vault();
      const plain = await v.requestToken({ scopes: ['secrets:read:staging/app/*'] });
      expect(plain).toMatchObject({ token: expect.stringMatching(/^eyJ/), token_id: expect.any(String), expires_at: expect.any(String), requires_approval: false });
      await v.setSecret('staging/app/DB_URL', 'postgres://staging-db');
      const here = await v.requestToken({ scopes: ['secrets:read:staging/app/DB_URL'], maxUses: 1, ipAllowlist: ['127.0.0.1/32', '::1'] });
      const read = (token: string) => fetch(`${target.url}/v1/secrets/staging/app/DB_URL`, { headers: { authorization: `Bearer ${token}` } });
      expect((await read(here.token)).status).toBe(200);
      expect((await read(here.token)).status).toBe(401);
      const elsewhere = await v.requestToken({ scopes: ['secrets:read:staging/app/DB_URL'], ipAllowlist: ['203.0.113.0/24'] });
      const refusedRead = await read(elsewhere.token);
      expect(refusedRead.status).toBe(403);
      expect((await refusedRead.json()).error.code).toBe('SCOPE_DENIED');
      expect(await rejection(v.requestToken({ scopes: ['secrets:read:staging/app/*'], ipAllowlist: ['not-an-ip'] }))).toBeInstanceOf(sdk.VaultError);
    });

    it('setSecret (metadata: null), getSecret, getSecretWithMetadata, listSecrets', async () => {
      const v = vault();
      const written = await v.setSecret('production/gemini/GEMINI_API_KEY', 'gemini-sdk-value', { secretType: 'api_key' });
      expect(written).toMatchObject({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 1, secret_type: 'api_key', access_tier: 'standard' });
      await v.setSecret('production/gemini/TEAM', 'ml', { metadata: { team: 'ml' } });
      expect(await v.getSecret('production/gemini/GEMINI_API_KEY')).toBe('gemini-sdk-value');
      expect(await v.getSecretWithMetadata('production/gemini/TEAM')).toMatchObject({ value: 'ml', metadata: { team: 'ml' }, version: 1, access_tier: 'standard' });
      // The SDK lists with GET /v1/secrets/production/gemini and a secrets:read:…/* token.
      const listed = await vault().listSecrets('production/gemini');
      expect(listed).toMatchObject({ namespace: 'production/gemini', total: 2 });
      expect(listed.items.map((i: { key: string }) => i.key).sort()).toEqual(['GEMINI_API_KEY', 'TEAM']);
      expect(JSON.stringify(listed)).not.toContain('gemini-sdk-value');
      expect((await vault().listSecrets('staging')).items).toEqual([]);
    });

    it('importEnv: each entry a versioned write, results per entry', async () => {
      const content = '# imported\nAPI_KEY=abc123\nexport DB_URL="postgres://u@h/db"\nMULTI="line one\nline two"\n';
      const first = await vault().importEnv(content, 'imports/app', { secretType: 'custom' });
      expect(first).toMatchObject({ namespace: 'imports/app', imported_count: 3, failed_count: 0 });
      expect([...first.imported].sort()).toEqual(['API_KEY', 'DB_URL', 'MULTI']);
      const again = await vault().importEnv('API_KEY=abc456\n', 'imports/app');
      expect(again.results).toEqual([{ key: 'API_KEY', ok: true, version: 2 }]);
      const v = vault();
      expect(await v.getSecret('imports/app/MULTI')).toBe('line one\nline two');
      expect(await v.getSecret('imports/app/DB_URL')).toBe('postgres://u@h/db');
      // Not all-or-nothing: a bad entry fails alone, the good one is written.
      const partial = await vault().importEnv('GOOD=1\n.hidden=2\n', 'imports/app');
      expect(partial).toMatchObject({ imported: ['GOOD'], imported_count: 1, failed_count: 1, failed: [{ key: '.hidden', code: 'INVALID_ARGUMENT' }] });
      expect(JSON.stringify(partial)).not.toMatch(/"2"|=2/);
      // Every entry refused (an explicit deny): nothing is written, and the SDK raises its ScopeError.
      const denied = await rejection(vault().importEnv('SALARIES=secret-salaries', 'production/hr'));
      expect(denied).toBeInstanceOf(sdk.ScopeError);
      expect(denied.message).not.toContain('secret-salaries');
    });

    it('ApprovalRequiredError on a critical secret; once a human approves with our CLI, the same call reads it', async () => {
      const error = await rejection(vault().getSecret(`${CRITICAL.namespace}/${CRITICAL.key}`));
      expect(error).toBeInstanceOf(sdk.ApprovalRequiredError);
      expect(error.approvalId).toMatch(/^[0-9a-f-]{36}$/);
      expect(JSON.stringify(error)).not.toContain(CRITICAL.value);
      await target.approve(error.approvalId);
      expect(await vault().getSecret(`${CRITICAL.namespace}/${CRITICAL.key}`)).toBe(CRITICAL.value);
    });

    it('SecretNotFoundError, ScopeError (a denied namespace, a human-only delete), AuthError', async () => {
      const missing = await rejection(vault().getSecret('production/gemini/NOPE'));
      expect(missing).toBeInstanceOf(sdk.SecretNotFoundError);
      expect(missing.message).toMatch(/No secret 'NOPE'/);
      expect(await rejection(vault().getSecret('production/hr/SALARIES'))).toBeInstanceOf(sdk.ScopeError);
      expect(await rejection(vault(target.keys.other).getSecret('production/gemini/GEMINI_API_KEY'))).toBeInstanceOf(sdk.ApprovalRequiredError);
      const del = await rejection(vault().deleteSecret('production/gemini/GEMINI_API_KEY'));
      expect(del).toBeInstanceOf(sdk.ScopeError);
      expect(del.message).toMatch(/human-only/);
      expect(await vault().getSecret('production/gemini/GEMINI_API_KEY')).toBe('gemini-sdk-value');
      const bad = await rejection(vault(`${target.keys.claude}x`).getSecret('production/gemini/GEMINI_API_KEY'));
      expect(bad).toBeInstanceOf(sdk.AuthError);
    });
  });

  describe(`the official SDK's RateLimitError → ${kind} with a small rate limit`, () => {
    let target: Target;
    beforeAll(async () => {
      target = await startTarget(kind, { rateLimit: { per_minute: 1, burst: 2 } });
    });
    afterAll(async () => target?.stop());

    it('429 carries Retry-After, which the SDK reads into retryAfter', async () => {
      const v = new sdk.AgentVault({ agentKey: target.keys.claude!, baseUrl: target.url, retries: 0 });
      let error: any;
      for (let i = 0; i < 4 && !error; i++) {
        try {
          await v.requestToken({ scopes: ['secrets:read:staging/app/*'] });
        } catch (e) {
          error = e;
        }
      }
      expect(error).toBeInstanceOf(sdk.RateLimitError);
      expect(error.retryAfter).toBeGreaterThanOrEqual(1);
    });
  });
}
