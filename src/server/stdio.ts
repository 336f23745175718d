import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createMcpServer } from './mcp-server.js';
import type { Runtime } from './runtime.js';
import type { AgentSettings } from './settings.js';

/**
 * MCP over stdin/stdout for one agent (the one ASS_AGENT_KEY names). Resolves when the
 * client closes the pipe, after closing the backend.
 */
export async function serveStdio(runtime: Runtime, agent: AgentSettings): Promise<void> {
  const server = createMcpServer({ service: runtime.service, agent, name: runtime.settings.config.server.name, readOnly: runtime.settings.config.server.read_only });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  runtime.logger.info({ agent: agent.config.id, backend: runtime.backend.kind }, 'serving MCP over stdio');
  await closed;
  await server.close().catch(() => undefined);
  await runtime.close();
}
