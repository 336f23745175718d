// The baseline: a bare SDK stdio server whose get_secret returns a constant of the same
// shape as ours, with the same schemas, so the ratio measures our pipeline and nothing else.
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';

const server = new McpServer({ name: 'bare', version: '1' });
const result = { value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' }, version: 1 };
server.registerTool(
  'get_secret',
  {
    description: 'constant',
    inputSchema: z.object({ namespace: z.string().min(1).max(512), key: z.string().min(1).max(128) }).strict(),
    outputSchema: z.object({ value: z.string(), secret_type: z.string(), access_tier: z.string(), metadata: z.record(z.string(), z.string()), version: z.number().int() }),
  },
  async () => ({ content: [{ type: 'text', text: JSON.stringify(result, null, 2) }], structuredContent: result }),
);
await server.connect(new StdioServerTransport());
