/**
 * Each finding of the security review, replayed against the real components: the HTTP server
 * and REST API in-process on 127.0.0.1:0, the MCP server with a real SDK Client, the real file
 * backend, and the built CLI as its own process. The human side (approve, deny, revoke, list)
 * goes only through the CLI and REST with an admin key, as a human's does; the runtime is used
 * directly only to seed secrets and to watch backend reads. Each finding was first reproduced by
 * the review's own scripts against the built server; these tests keep it fixed.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, ensureBuilt } from '../helpers/cli.js';
import { serverScope } from '../helpers/server-scope.js';

const { http, mcp, rest } = serverScope();

// The human side runs the built CLI.
beforeAll(ensureBuilt, 180_000);

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]!.text;

describe('the tool allow-list and read-only mode hold over REST too', () => {
  it('refuses a token, a read and a write the agent has no tool for', async () => {
    const server = await http({ agents: [{ id: 'lister', grants: ['secrets:*:**'], tools: ['list_secrets', 'list_namespaces', 'request_token'] }] });
    await server.runtime.backend.put({ namespace: 'app', key: 'K', value: 'canary-allowlist', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const token = JSON.parse((await rest(server, 'POST', '/v1/tokens', server.keys.lister!, { scopes: ['secrets:*:app/*'] })).body).token as string;
    const read = await rest(server, 'GET', '/v1/secrets/app/K', token);
    expect(read.status).toBe(403);
    expect(read.body).not.toContain('canary-allowlist');
    expect(JSON.parse(read.body).error.message).toMatch(/get_secret is not available to this agent \(not in its tool allow-list\)/);
    expect((await rest(server, 'PUT', '/v1/secrets/app/NEW', token, { value: 'v' })).status).toBe(403);
  });

  it('refuses writes and tokens on a read-only server', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }], server: { read_only: true } });
    const res = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:*:app/*'] });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.message).toMatch(/the server is read-only/);
  });
});

describe('a token beyond the grants needs the strictest approval rule', () => {
  it('asks for the most approvers and the longest delay anywhere in the policy', async () => {
    const server = await http({
      agents: [{ id: 'bot', grants: ['secrets:read:production/**'] }],
      policy: { namespaces: [{ pattern: 'production/**', tiers: { critical: { effect: 'approval', approvers: 2, delay: '1h' } } }] },
    });
    const asked = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:*:production/db/PASS'] });
    expect(JSON.parse(asked.body)).toMatchObject({ requires_approval: true });
    const id = JSON.parse(asked.body).approval_id as string;
    // The humans: one approves over REST, a second admin (added through the CLI) with the CLI.
    const first = await rest(server, 'POST', `/v1/approvals/${id}/approve`, server.adminKey);
    expect(first.status, first.body).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ status: 'pending', approvals_received: 1, approvals_required: 2 });
    const added = await runCli(['--config', server.configPath, 'admins', 'add', 'second', '--json'], { env: { ASS_ADMIN_KEY: server.adminKey } });
    expect(added.code, added.stderr).toBe(0);
    const before = Date.now();
    const second = await runCli(['--config', server.configPath, 'approvals', 'approve', id, '--json'], { env: { ASS_ADMIN_KEY: JSON.parse(added.stdout).admin_key } });
    const after = Date.now();
    expect(second.code, second.stderr).toBe(0);
    const view = JSON.parse(second.stdout) as { status: string; approvals_received: number; effective_at: string };
    expect(view).toMatchObject({ status: 'pending', approvals_received: 2 });
    // The one-hour delay of the strictest rule, counted from the completing approval.
    expect(Date.parse(view.effective_at)).toBeGreaterThanOrEqual(before + 3_600_000 - 1);
    expect(Date.parse(view.effective_at)).toBeLessThanOrEqual(after + 3_600_000);
  });
});

describe('revoking an agent ends its tokens and approvals', () => {
  it('a token minted with a revoked key stops working at once', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }] });
    await server.runtime.backend.put({ namespace: 'app', key: 'K', value: 'canary-revoked', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const token = JSON.parse((await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:read:app/*'], ttl: '24h' })).body).token as string;
    expect((await rest(server, 'GET', '/v1/secrets/app/K', token)).status).toBe(200);
    // A pending request of the agent's own making: a read of a critical secret.
    await server.runtime.backend.put({ namespace: 'app', key: 'CRIT', value: 'canary-critical', secret_type: 'custom', access_tier: 'critical', metadata: {} });
    const asked = await rest(server, 'GET', '/v1/secrets/app/CRIT', token);
    const pendingId = JSON.parse(asked.body).error?.approval_id as string;
    expect(pendingId, asked.body).toMatch(/^[0-9a-f-]{36}$/);
    const revoked = await runCli(['--config', server.configPath, 'agents', 'revoke', 'bot', '--json'], { env: { ASS_ADMIN_KEY: server.adminKey } });
    expect(revoked.code, revoked.stderr).toBe(0);
    const after = await rest(server, 'GET', '/v1/secrets/app/K', token);
    expect(after.status).toBe(401);
    expect(after.body).not.toContain('canary-revoked');
    // A human sees it ended, over REST with the admin key.
    const listed = JSON.parse((await rest(server, 'GET', '/v1/approvals?all=true', server.adminKey)).body) as { items: { approval_id: string; status: string }[] };
    expect(listed.items.find((a) => a.approval_id === pendingId)?.status).toBe('denied');
  });
});

describe('an agent cannot create a secret below its namespace\'s default tier', () => {
  it('refuses a standard secret where the default is critical, and allows raising', async () => {
    const env = await mcp({ extraYaml: 'policy:\n  tiers: { critical: auto }\n  namespaces:\n    - { pattern: "vault/**", default_tier: critical }' });
    const low = await env.client.callTool({ name: 'set_secret', arguments: { namespace: 'vault/prod', key: 'DB', value: 'v', access_tier: 'standard' } });
    expect(low.isError).toBe(true);
    expect(text(low)).toMatch(/new secrets in 'vault\/prod' are at least critical; an agent cannot set access tier standard/);
    expect(await env.runtime.backend.get('vault/prod', 'DB')).toBeNull();
    const ok = await env.client.callTool({ name: 'set_secret', arguments: { namespace: 'vault/prod', key: 'DB', value: 'v' } });
    expect(ok.structuredContent).toMatchObject({ access_tier: 'critical' });
  });
});

describe('policy is checked before the backend is read', () => {
  it('an agent without a grant is refused without any backend read', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:*:app/**"]\n    deny: ["secrets:*:app/payroll/**"]' });
    const backend = env.runtime.backend;
    const reads: string[] = [];
    const get = backend.get.bind(backend);
    // A spy on the real backend (it still reads): counts reads, changes nothing.
    backend.get = async (ns, key) => {
      reads.push(`${ns}/${key}`);
      return get(ns, key);
    };
    for (const args of [{ namespace: 'payroll', key: 'BANK' }, { namespace: 'app/payroll', key: 'BANK' }]) {
      const res = await env.client.callTool({ name: 'get_secret', arguments: args });
      expect(text(res)).toMatch(/^Error: Access denied/);
      const write = await env.client.callTool({ name: 'set_secret', arguments: { ...args, value: 'v' } });
      expect(text(write)).toMatch(/^Error: Access denied/);
    }
    expect(reads).toEqual([]);
  });
});

describe('listing with foreign names and explicit denies', () => {
  it('skips names outside the grammar instead of failing the listing', async () => {
    const env = await mcp({});
    await env.runtime.backend.put({ namespace: 'infra', key: 'written by terraform', value: 'v', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    await env.runtime.backend.put({ namespace: 'infra', key: 'GOOD', value: 'v', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    const res = await env.client.callTool({ name: 'list_secrets', arguments: { namespace: 'infra' } });
    expect(res.structuredContent).toMatchObject({ total: 1, items: [{ key: 'GOOD' }] });
  });

  it('hides a namespace an explicit deny covers, and refuses to list it', async () => {
    const env = await mcp({ agentYaml: '    grants: ["secrets:*:**"]\n    deny: ["secrets:*:production/payments/**"]' });
    for (const ns of ['production/payments', 'production/gemini']) {
      await env.runtime.backend.put({ namespace: ns, key: 'K', value: 'v', secret_type: 'custom', access_tier: 'standard', metadata: {} });
    }
    const names = await env.client.callTool({ name: 'list_namespaces', arguments: {} });
    expect((names.structuredContent as { namespaces: string[] }).namespaces).toEqual(['production', 'production/gemini']);
    const list = await env.client.callTool({ name: 'list_secrets', arguments: { namespace: 'production/payments' } });
    expect(text(list)).toMatch(/listing 'production\/payments' is denied by secrets:\*:production\/payments\/\*\*/);
  });
});

describe('a human decision is audited before it takes effect', () => {
  // The full matrix (deny, approve, delete, rotate, revoke; CLI and REST; two ways of breaking
  // the log) is test/security/human-audit-first.test.ts; this is the review's own case.
  it('leaves the request pending when the CLI approve cannot write its audit record', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:read:app/*'] }] });
    const asked = await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:read:other/*'] });
    const id = JSON.parse(asked.body).approval_id as string;
    // A real failure: the audit log's path becomes a directory.
    const auditPath = join(server.dir, 'audit.log');
    rmSync(auditPath, { force: true });
    mkdirSync(auditPath);
    const approved = await runCli(['--config', server.configPath, 'approvals', 'approve', id], { env: { ASS_ADMIN_KEY: server.adminKey } });
    expect(approved.code).not.toBe(0);
    expect(approved.stderr).toMatch(/audit log could not be written/);
    rmSync(auditPath, { recursive: true, force: true });
    const listed = JSON.parse((await rest(server, 'GET', '/v1/approvals', server.adminKey)).body) as { items: { approval_id: string; status: string }[] };
    expect(listed.items.find((a) => a.approval_id === id)?.status).toBe('pending');
  });
});

describe('REST path decoding', () => {
  it('answers malformed percent-encoding with 400, not 500', async () => {
    const server = await http({ agents: [{ id: 'bot', grants: ['secrets:*:**'] }] });
    const token = JSON.parse((await rest(server, 'POST', '/v1/tokens', server.keys.bot!, { scopes: ['secrets:read:app/*'] })).body).token as string;
    expect((await rest(server, 'GET', '/v1/approvals/%E0%A4%A', token)).status).toBe(400);
    expect((await rest(server, 'POST', '/v1/approvals/%E0%A4%A/approve', server.adminKey)).status).toBe(400);
  });
});
