import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from './mcp-server.js';
import type { Runtime } from './runtime.js';
import { RateLimiter } from './rate-limit.js';
import type { AgentSettings } from './settings.js';
import { limitToolCalls } from './stdio-rate-limit.js';

/** How long requests already received may still run after the client closes stdin. */
const DRAIN_MS = 10_000;

/**
 * MCP over stdin/stdout for one agent (the one ASS_AGENT_KEY names). Resolves when the
 * client closes the pipe, after answering the requests it had sent (for up to 10 s: a script
 * may write its requests and close stdin at once) and closing the backend.
 */
export async function serveStdio(runtime: Runtime, agent: AgentSettings, hooks: { afterInitialize?: () => void } = {}): Promise<void> {
  const server = createMcpServer({ service: runtime.service, agent, name: runtime.settings.config.server.name, readOnly: runtime.settings.config.server.read_only });
  const transport = new StdioServerTransport();
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve();
    process.stdin.once('end', () => resolve());
  });
  await server.connect(transport);
  const unanswered = trackUnanswered(transport);
  if (hooks.afterInitialize) onInitializeAnswered(transport, hooks.afterInitialize);
  const { per_minute: perMinute, burst } = runtime.settings.config.server.rate_limit;
  limitToolCalls(transport, new RateLimiter(perMinute, burst), agent.config.id);
  runtime.logger.info({ agent: agent.config.id, backend: runtime.backend.kind }, 'serving MCP over stdio');
  await closed;
  const deadline = Date.now() + DRAIN_MS;
  // One macrotask first: requests read just before the end are dispatched through microtasks.
  do await new Promise((resolve) => setImmediate(resolve));
  while (unanswered.size > 0 && Date.now() < deadline);
  await server.close().catch(() => undefined);
  await runtime.close();
}

/** Ids of requests received and not yet answered, kept by wrapping the connected transport. */
function trackUnanswered(transport: StdioServerTransport): Set<string | number> {
  const unanswered = new Set<string | number>();
  const receive = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    if ('method' in message && 'id' in message) unanswered.add(message.id);
    receive?.(message);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    await send(message);
    if (('result' in message || 'error' in message) && 'id' in message && message.id !== undefined) unanswered.delete(message.id);
  };
  return unanswered;
}

/**
 * Runs `hook` once, on the macrotask after the answer to `initialize` was written: work the first
 * answer does not need (a remote backend's opening, see serve.ts) waits until the client has it.
 */
function onInitializeAnswered(transport: StdioServerTransport, hook: () => void): void {
  let initializeId: string | number | undefined;
  let done = false;
  const receive = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage) => {
    if (initializeId === undefined && 'method' in message && message.method === 'initialize' && 'id' in message) initializeId = message.id;
    receive?.(message);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    await send(message);
    if (!done && initializeId !== undefined && 'id' in message && message.id === initializeId && ('result' in message || 'error' in message)) {
      done = true;
      setImmediate(hook);
    }
  };
}
