import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from '../mcp-server.js';
import { agentFromHeader, approvalPage, rateLimit, type HttpContext } from './context.js';
import { instrumentSession } from './instrument.js';
import { HttpError, readJson } from './respond.js';

interface Session {
  id: string;
  agentId: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastSeen: number;
}

/**
 * Streamable HTTP at `/mcp` (POST, GET, DELETE), one McpServer per session. An agent holds at
 * most `http.sessions.max_per_agent` sessions (opening one more closes its least recently used),
 * and a session idle for `http.sessions.idle_timeout` is closed.
 * Security: a session id is not a credential. Every request carries `x-agent-key`, and a
 * session answers only the agent that opened it (another agent → 403, no key → 401).
 */
export class StreamableEndpoint {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ctx: HttpContext) {
    this.sweeper = setInterval(() => this.sweep(), Math.min(60_000, Math.max(1_000, ctx.options.sessions.idleMs / 2)));
    this.sweeper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE') {
      throw new HttpError(405, 'METHOD_NOT_ALLOWED', '/mcp takes POST, GET and DELETE.', { allow: 'GET, POST, DELETE' });
    }
    const agent = agentFromHeader(this.ctx, req);
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (session && Date.now() - session.lastSeen > this.ctx.options.sessions.idleMs) {
      // Idle too long: closed now, not at the next sweep.
      await this.close(session.id);
      session = undefined;
    }
    if (sessionId && !session) throw new HttpError(404, 'SESSION_NOT_FOUND', 'No such MCP session (it ended or never existed). Initialize a new one.');
    if (session && session.agentId !== agent.config.id) {
      throw new HttpError(403, 'SESSION_FORBIDDEN', 'This MCP session belongs to another agent.');
    }
    if (req.method === 'POST') {
      rateLimit(this.ctx, agent.config.id, 'streamable_http');
      const body = await readJson(req, this.ctx.options.bodyLimit, { jsonRpc: true });
      if (!session) {
        if (!isInitializeRequest(body)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Send an initialize request first, or the mcp-session-id header of an open session.');
        session = await this.open(agent.config.id, req);
      }
      session.lastSeen = Date.now();
      await session.transport.handleRequest(req, res, body);
      return;
    }
    // GET (the session's stream) and DELETE (end it) need an open session.
    if (!session) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'The mcp-session-id header is required.');
    }
    session.lastSeen = Date.now();
    await session.transport.handleRequest(req, res);
  }

  private async open(agentId: string, req: IncomingMessage): Promise<Session> {
    const { runtime } = this.ctx;
    const agent = runtime.settings.agents.find((a) => a.config.id === agentId)!;
    this.evictFor(agentId);
    const server = createMcpServer({ service: runtime.service, agent, name: runtime.settings.config.server.name, readOnly: runtime.settings.config.server.read_only });
    const id = randomUUID();
    const session: Session = { id, agentId, server, lastSeen: Date.now(), transport: undefined as unknown as StreamableHTTPServerTransport };
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      onsessioninitialized: () => {
        this.sessions.set(id, session);
      },
      onsessionclosed: () => {
        void this.close(id);
      },
    });
    await server.connect(session.transport);
    const onclose = session.transport.onclose;
    session.transport.onclose = () => {
      onclose?.();
      this.sessions.delete(id);
    };
    instrumentSession(server, session.transport, { metrics: this.ctx.metrics, transport: 'streamable_http', approvalPage: approvalPage(this.ctx, req), logger: this.ctx.logger });
    return session;
  }

  private evictFor(agentId: string): void {
    const mine = [...this.sessions.values()].filter((s) => s.agentId === agentId);
    if (mine.length < this.ctx.options.sessions.maxPerAgent) return;
    const oldest = mine.reduce((a, b) => (b.lastSeen < a.lastSeen ? b : a));
    void this.close(oldest.id);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.ctx.options.sessions.idleMs;
    for (const s of this.sessions.values()) if (s.lastSeen < cutoff) void this.close(s.id);
  }

  async close(id: string): Promise<void> {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    await session.server.close().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.keys()].map((id) => this.close(id)));
  }
}
