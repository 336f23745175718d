import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
// The SDK deprecates the SSE transport in favour of streamable HTTP; the seed's clients still use it.
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { createMcpServer } from '../mcp-server.js';
import { approvalPage, rateLimit, rateLimitBatch, type HttpContext } from './context.js';
import { instrumentSession } from './instrument.js';
import { HttpError, readJson } from './respond.js';
import { keepSseAlive } from './sse-keepalive.js';
import { mcpPrincipal } from './mcp-auth.js';

/** The message endpoint the SSE stream announces (relative, so it follows the client's base URL). */
export const SSE_MESSAGE_PATH = '/messages';
const MAX_STREAMS_PER_AGENT = 64;

interface Stream {
  /** The agent id, or agent id + grant for a signed-in person. */
  owner: string;
  transport: SSEServerTransport;
  server: McpServer;
}

/**
 * The legacy HTTP+SSE transport: `GET /sse` opens the stream, `POST /messages?sessionId=…`
 * carries the client's messages; the stream carries a `: keepalive` comment every `http.keepalive`.
 * As on /mcp, every request carries `x-agent-key` and a
 * stream answers only the agent that opened it.
 */
export class SseEndpoint {
  private readonly streams = new Map<string, Stream>();

  constructor(private readonly ctx: HttpContext) {}

  get size(): number {
    return this.streams.size;
  }

  async open(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', '/sse takes GET.', { allow: 'GET' });
    const { agent, owner, current } = await mcpPrincipal(this.ctx, req);
    await rateLimit(this.ctx, agent.config.id, 'sse');
    if ([...this.streams.values()].filter((s) => s.owner === owner).length >= MAX_STREAMS_PER_AGENT) {
      throw new HttpError(429, 'RATE_LIMITED', `This agent already has ${MAX_STREAMS_PER_AGENT} open SSE streams; close one first.`);
    }
    const { runtime } = this.ctx;
    const server = createMcpServer({ service: runtime.service, agent, current, name: runtime.settings.config.server.name, readOnly: runtime.settings.config.server.read_only });
    const transport = new SSEServerTransport(SSE_MESSAGE_PATH, res);
    const id = transport.sessionId;
    this.streams.set(id, { owner, transport, server });
    res.on('close', () => {
      this.streams.delete(id);
      void server.close().catch(() => undefined);
    });
    await server.connect(transport);
    keepSseAlive(res, this.ctx.options.keepaliveMs);
    instrumentSession(server, transport, { metrics: this.ctx.metrics, transport: 'sse', approvalPage: approvalPage(this.ctx, req), command: this.ctx.runtime.links.command, logger: this.ctx.logger });
  }

  async message(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${SSE_MESSAGE_PATH} takes POST.`, { allow: 'POST' });
    const { agent, owner } = await mcpPrincipal(this.ctx, req);
    const stream = this.streams.get(url.searchParams.get('sessionId') ?? '');
    if (!stream) throw new HttpError(404, 'SESSION_NOT_FOUND', 'No such SSE session (it ended or never existed). Open GET /sse again.');
    if (stream.owner !== owner) throw new HttpError(403, 'SESSION_FORBIDDEN', 'This SSE session belongs to another agent.');
    await rateLimit(this.ctx, agent.config.id, 'sse');
    const body = await readJson(req, this.ctx.options.bodyLimit);
    await rateLimitBatch(this.ctx, agent.config.id, 'sse', body);
    await stream.transport.handlePostMessage(req, res, body);
  }

  async closeAll(): Promise<void> {
    const all = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(all.map((s) => s.server.close().catch(() => undefined)));
  }
}
