/**
 * A real SDK Client in its own process, for test/remote/http-defaults.test.ts: connects over
 * https to `<url>` with `<transport>` (sse | streamable) and the agent key, lists the tools,
 * calls get_secret on `<namespace>/<key>` and prints {tools, result} as one JSON line.
 * The server's self-signed certificate is trusted the way a user trusts a private CA:
 * NODE_EXTRA_CA_CERTS, set by the test.
 * usage: tls-sdk-client.ts <url> <transport> <namespace> <key>   (agent key in ASS_TEST_AGENT_KEY)
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, kind, namespace, key] = process.argv.slice(2) as [string, string, string, string];
const headers = { 'x-agent-key': process.env.ASS_TEST_AGENT_KEY ?? '' };
const transport =
  kind === 'sse'
    ? new SSEClientTransport(new URL(`${url}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } })
    : new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers } });
const client = new Client({ name: 'tls-test', version: '1' });
await client.connect(transport);
const tools = (await client.listTools()).tools.map((t) => t.name);
const result = await client.callTool({ name: 'get_secret', arguments: { namespace, key } });
process.stdout.write(`${JSON.stringify({ tools, result: result.structuredContent })}\n`);
await client.close();
