/** End to end with the SDK Client over real sockets: legacy SSE and streamable HTTP. */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let server: InProcessServer;

beforeAll(async () => {
  server = await startInProcess({
    agents: [
      { id: 'alpha', grants: ['secrets:*:alpha/**'] },
      { id: 'beta', grants: ['secrets:*:beta/**'] },
    ],
  });
});
afterAll(async () => server?.close());

function transportFor(kind: 'sse' | 'streamable', key: string) {
  const headers = { 'x-agent-key': key };
  return kind === 'sse'
    ? new SSEClientTransport(new URL(`${server.url}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } })
    : new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } });
}

type ToolResult = { isError?: boolean; structuredContent?: Record<string, unknown>; content: Array<{ text?: string }>; _meta?: Record<string, unknown> };

for (const kind of ['sse', 'streamable'] as const) {
  describe(`SDK Client over ${kind}`, () => {
    it('lists the eight tools and round-trips set/get/list', async () => {
      const client = new Client({ name: 'remote-test', version: '1.0.0' });
      await client.connect(transportFor(kind, server.keys.alpha!));
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual(
        ['delete_secret', 'get_approval_status', 'get_secret', 'list_namespaces', 'list_secrets', 'request_token', 'rotate_secret', 'set_secret'].sort(),
      );
      const set = (await client.callTool({ name: 'set_secret', arguments: { namespace: `alpha/${kind}`, key: 'API_KEY', value: `v-${kind}` } })) as ToolResult;
      expect(set.isError).toBeFalsy();
      expect(set.structuredContent).toMatchObject({ namespace: `alpha/${kind}`, key: 'API_KEY', version: 1 });
      const got = (await client.callTool({ name: 'get_secret', arguments: { namespace: `alpha/${kind}`, key: 'API_KEY' } })) as ToolResult;
      expect(got.structuredContent).toMatchObject({ value: `v-${kind}`, version: 1 });
      const listed = (await client.callTool({ name: 'list_secrets', arguments: { namespace: `alpha/${kind}` } })) as ToolResult;
      expect(listed.structuredContent).toMatchObject({ total: 1 });
      expect(JSON.stringify(listed)).not.toContain(`v-${kind}`);
      const del = (await client.callTool({ name: 'delete_secret', arguments: { namespace: `alpha/${kind}`, key: 'API_KEY' } })) as ToolResult;
      expect(del.structuredContent).toMatchObject({ requires_human_auth: true });
      await client.close();
    });

    it("one agent's session cannot read another agent's secret", async () => {
      const client = new Client({ name: 'remote-test', version: '1.0.0' });
      await client.connect(transportFor(kind, server.keys.beta!));
      const got = (await client.callTool({ name: 'get_secret', arguments: { namespace: `alpha/${kind}`, key: 'API_KEY' } })) as ToolResult;
      expect(got.isError).toBe(true);
      expect((got._meta?.['agent-secret-store/error'] as { code: string }).code).toBe('POLICY_DENIED');
      await client.close();
    });

    it('refuses a connection without x-agent-key', async () => {
      const client = new Client({ name: 'remote-test', version: '1.0.0' });
      const transport = kind === 'sse' ? new SSEClientTransport(new URL(`${server.url}/sse`)) : new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`));
      await expect(client.connect(transport)).rejects.toThrow();
    });
  });
}

it('/metrics counts MCP tool calls by transport, tool and outcome', async () => {
  const res = await raw({ url: server.url, path: '/metrics' });
  expect(res.body).toMatch(/ass_requests_total\{transport="streamable_http",tool="get_secret",outcome="ok"\} 1/);
  expect(res.body).toMatch(/ass_requests_total\{transport="sse",tool="get_secret",outcome="POLICY_DENIED"\} 1/);
  expect(res.body).toMatch(/ass_sessions_active\{transport="streamable_http"\} \d+/);
});
