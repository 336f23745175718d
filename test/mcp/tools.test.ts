import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { Ajv } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpServer } from '../../src/server/mcp-server.js';
import { TOOLS } from '../../src/server/tools/registry.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

/**
 * The agent-facing contract, checked in-process (fast) with a real SDK Client. The snapshot of
 * names and fields makes any schema change a deliberate one (github-mcp-server's habit).
 */
describe('tool contract', () => {
  let env: InProcess;
  beforeAll(async () => {
    env = await startInProcess();
  });
  afterAll(() => env.close());

  it('lists exactly the eight tools, each with all four annotation hints', async () => {
    const { tools } = await env.client.listTools();
    expect(tools.map((t) => t.name)).toEqual([
      'get_secret', 'set_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'request_token', 'get_approval_status',
    ]);
    for (const tool of tools) {
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof tool.annotations?.[hint], `${tool.name}.${hint}`).toBe('boolean');
      }
      expect(tool.outputSchema, tool.name).toBeDefined();
    }
  });

  it('lists exactly what the SDK\'s own tools/list would (ours converts each schema once per process)', async () => {
    const sdk = new McpServer({ name: 'sdk', version: '1' });
    for (const tool of TOOLS) {
      sdk.registerTool(tool.name, { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema, annotations: { title: tool.title, ...tool.annotations } }, async () => ({ content: [] }));
    }
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    await sdk.connect(serverSide);
    const client = new Client({ name: 'compare', version: '1' });
    await client.connect(clientSide);
    try {
      const theirs = await client.listTools();
      expect((await env.client.listTools()).tools).toEqual(theirs.tools);
      // And again: the memoized entries are the same objects' worth of JSON.
      expect((await env.client.listTools()).tools).toEqual(theirs.tools);
    } finally {
      await client.close();
    }
  });

  it('keeps the seed\'s input and output fields', async () => {
    const { tools } = await env.client.listTools();
    const shape = Object.fromEntries(
      tools.map((t) => [t.name, { input: Object.keys(t.inputSchema.properties ?? {}).sort(), required: [...(t.inputSchema.required ?? [])].sort(), output: Object.keys(t.outputSchema?.properties ?? {}).sort() }]),
    );
    expect(shape).toMatchInlineSnapshot(`
      {
        "delete_secret": {
          "input": [
            "key",
            "namespace",
          ],
          "output": [
            "message",
            "requires_human_auth",
          ],
          "required": [
            "key",
            "namespace",
          ],
        },
        "get_approval_status": {
          "input": [
            "approval_id",
          ],
          "output": [
            "approval_url",
            "approvals_received",
            "approvals_required",
            "effective_at",
            "expires_at",
            "resolved_at",
            "status",
          ],
          "required": [
            "approval_id",
          ],
        },
        "get_secret": {
          "input": [
            "key",
            "namespace",
            "reason",
          ],
          "output": [
            "access_tier",
            "metadata",
            "secret_type",
            "value",
            "version",
          ],
          "required": [
            "key",
            "namespace",
          ],
        },
        "list_namespaces": {
          "input": [],
          "output": [
            "namespaces",
            "total",
          ],
          "required": [],
        },
        "list_secrets": {
          "input": [
            "namespace",
          ],
          "output": [
            "items",
            "namespace",
            "total",
          ],
          "required": [
            "namespace",
          ],
        },
        "request_token": {
          "input": [
            "max_uses",
            "reason",
            "scopes",
            "ttl",
          ],
          "output": [
            "approval_id",
            "approval_url",
            "expires_at",
            "message",
            "requires_approval",
            "scopes",
            "token",
            "token_id",
            "ttl",
          ],
          "required": [
            "scopes",
          ],
        },
        "rotate_secret": {
          "input": [
            "key",
            "namespace",
          ],
          "output": [
            "message",
            "requires_human_auth",
          ],
          "required": [
            "key",
            "namespace",
          ],
        },
        "set_secret": {
          "input": [
            "access_tier",
            "key",
            "metadata",
            "namespace",
            "secret_type",
            "value",
          ],
          "output": [
            "access_tier",
            "created_at",
            "id",
            "key",
            "namespace",
            "secret_type",
            "version",
          ],
          "required": [
            "key",
            "namespace",
            "value",
          ],
        },
      }
    `);
  });

  it('returns structuredContent and the same JSON as text', async () => {
    const result = await env.client.callTool({ name: 'set_secret', arguments: { namespace: 'production/gemini', key: 'GEMINI_API_KEY', value: 'v1', secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } } });
    const text = (result.content as { text: string }[])[0]!.text;
    expect(JSON.parse(text)).toEqual(result.structuredContent);
    expect(result.structuredContent).toMatchObject({ namespace: 'production/gemini', key: 'GEMINI_API_KEY', version: 1, secret_type: 'api_key', access_tier: 'sensitive' });
  });

  it('answers every tool with structuredContent that its advertised output schema accepts (the SDK no longer checks our answers)', async () => {
    // Registry.ts does not hand the output schemas to the SDK (a zod parse of every answer):
    // the handlers are typed against them instead. This checks the answers at run time, on a
    // client that has no cached validators, against the JSON Schema that tools/list advertises.
    const { tools } = await env.client.listTools();
    const advertised = new Map(tools.map((t) => [t.name, t.outputSchema!]));
    const ajv = new Ajv({ strict: false });
    const ns = 'contract/output';
    await env.runtime.backend.put({ namespace: ns, key: 'CRIT', value: 'v-crit', secret_type: 'api_key', access_tier: 'critical', metadata: {} });
    const calls: Array<[string, Record<string, unknown>]> = [
      ['set_secret', { namespace: ns, key: 'K', value: 'v1', metadata: { team: 'ml' } }],
      ['get_secret', { namespace: ns, key: 'K' }],
      ['list_secrets', { namespace: ns }],
      ['list_namespaces', {}],
      ['delete_secret', { namespace: ns, key: 'K' }],
      ['rotate_secret', { namespace: ns, key: 'K' }],
      ['request_token', { scopes: [`secrets:read:${ns}/K`] }],
    ];
    const fresh = new Client({ name: 'unvalidated', version: '1' });
    const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
    const server = createMcpServer({ service: env.runtime.service, agent: env.runtime.settings.agents[0]!, name: 'ass', readOnly: false });
    await server.connect(serverSide);
    await fresh.connect(clientSide);
    try {
      const pending = await fresh.callTool({ name: 'get_secret', arguments: { namespace: ns, key: 'CRIT' } });
      const approvalId = /Approval ID: ([0-9a-f-]{36})/.exec((pending.content as { text: string }[])[0]!.text)![1]!;
      calls.push(['get_approval_status', { approval_id: approvalId }]);
      expect(new Set(calls.map(([name]) => name))).toEqual(new Set(TOOLS.map((t) => t.name)));
      for (const [name, args] of calls) {
        const result = await fresh.callTool({ name, arguments: args });
        expect(result.isError, `${name}: ${JSON.stringify(result.content)}`).toBeFalsy();
        const validate = ajv.compile(advertised.get(name)!);
        expect(validate(result.structuredContent), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
      }
    } finally {
      await fresh.close();
      await server.close();
    }
  });

  it('lists metadata only, filtered by the agent\'s list grants', async () => {
    await env.client.callTool({ name: 'set_secret', arguments: { namespace: 'production/gemini', key: 'OTHER', value: 'v-other' } });
    const result = await env.client.callTool({ name: 'list_secrets', arguments: { namespace: 'production/gemini' } });
    expect(JSON.stringify(result)).not.toContain('v-other');
    expect(result.structuredContent).toMatchObject({ namespace: 'production/gemini', total: 2 });
  });
});

describe('tool filtering', () => {
  it('registers only read-only tools in read-only mode', async () => {
    const env = await startInProcess({ extraYaml: 'server: { read_only: true }' });
    try {
      const names = (await env.client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(['get_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'get_approval_status']);
      const call = await env.client.callTool({ name: 'set_secret', arguments: { namespace: 'a', key: 'b', value: 'c' } });
      expect(call.isError).toBe(true);
    } finally {
      await env.close();
    }
  });

  it('honours a per-agent tool allow-list', async () => {
    const env = await startInProcess({ agentYaml: '    grants: ["secrets:read:**"]\n    tools: [get_secret, get_approval_status]' });
    try {
      expect((await env.client.listTools()).tools.map((t) => t.name)).toEqual(['get_secret', 'get_approval_status']);
    } finally {
      await env.close();
    }
  });
});

describe('approval flow with an injected clock', () => {
  it('grants a critical read after approval, for the grant ttl only', async () => {
    const env = await startInProcess();
    try {
      await env.runtime.backend.put({ namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY', value: 'sk_live_test', secret_type: 'api_key', access_tier: 'critical', metadata: {} });
      const args = { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' };
      const first = await env.client.callTool({ name: 'get_secret', arguments: args });
      const text = (first.content as { text: string }[])[0]!.text;
      expect(text).toMatch(/^Error: Human approval required\. Approval ID: [0-9a-f-]{36}\. Use get_approval_status/);
      const id = /Approval ID: ([0-9a-f-]{36})/.exec(text)![1]!;
      await env.runtime.approvals.approve(id, 'admin');
      const second = await env.client.callTool({ name: 'get_secret', arguments: args });
      expect(second.structuredContent).toMatchObject({ value: 'sk_live_test', access_tier: 'critical' });
      env.advance(60 * 60_000);
      const third = await env.client.callTool({ name: 'get_secret', arguments: args });
      expect(third.isError).toBe(true);
      expect((third.content as { text: string }[])[0]!.text).not.toContain(id);
    } finally {
      await env.close();
    }
  });
});

describe('read-only mode and annotations agree', () => {
  it('treats exactly the tools without readOnlyHint as writing tools', async () => {
    const { TOOLS } = await import('../../src/server/tools/registry.js');
    const { WRITING_TOOLS } = await import('../../src/server/access.js');
    expect(TOOLS.filter((t) => !t.annotations.readOnlyHint).map((t) => t.name).sort()).toEqual([...WRITING_TOOLS].sort());
  });
});
