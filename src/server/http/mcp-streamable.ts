import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from '../mcp-server.js';
import { agentFromHeader, approvalPage, rateLimit, type HttpContext } from './context.js';
import { instrumentSession } from './instrument.js';
import { HttpError, readJson } from './respond.js';

/** Sessions one agent may hold at once; opening another closes its least recently used. */
export const MAX_SESSIONS_PER_AGENT = 64;
/** A session with no request for this long is closed. */
export const SESSION_IDLE_MS = 30 * 60_000;

interface Session {
  id: string;
  agentId: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastSeen: number;
}

/**
 * Streamable HTTP at `/mcp` (POST, GET, DELETE), one McpServer per session.
 * Security: a session id is not a credential. Every request carries `x-agent-key`, and a
 * session answers only the agent that opened it (another agent → 403, no key → 401).
 */
export class StreamableEndpoint {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly ctx: HttpContext) {
    this.sweeper = setInterval(() => this.sweep(), 60_000);
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
    if (sessionId && !session) throw new HttpError(404, 'SESSION_NOT_FOUND', 'No such MCP session (it ended or never existed). Initialize a new one.');
    if (session && session.agentId !== agent.config.id) {
      throw new HttpError(403, 'SESSION_FORBIDDEN', 'This MCP session belongs to another agent.');
    }
    if (req.method === 'POST') {
      rateLimit(this.ctx, agent.config.id, 'streamable_http');
      const body = await readJson(req, this.ctx.options.bodyLimit);
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
    if (mine.length < MAX_SESSIONS_PER_AGENT) return;
    const oldest = mine.reduce((a, b) => (b.lastSeen < a.lastSeen ? b : a));
    void this.close(oldest.id);
  }

  private sweep(): void {
    const cutoff = Date.now() - SESSION_IDLE_MS;
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
