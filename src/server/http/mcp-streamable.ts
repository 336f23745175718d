import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { createMcpServer } from '../mcp-server.js';
import { approvalPage, rateLimit, rateLimitBatch, type HttpContext } from './context.js';
import { instrumentSession } from './instrument.js';
import { HttpError, readJson } from './respond.js';
import { BoundedEventStore } from './event-store.js';
import { mcpPrincipal, type McpPrincipal } from './mcp-auth.js';

interface Session {
  id: string;
  /** The agent id, or agent id + grant for a signed-in person: only the owner may use the session. */
  owner: string;
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  lastSeen: number;
  events: BoundedEventStore;
  /** The protocol version negotiated at initialize; it governs the whole session. */
  protocolVersion: string;
}

/**
 * Streamable HTTP at `/mcp` (POST, GET, DELETE), one McpServer per session. An agent holds at
 * most `http.sessions.max_per_agent` sessions (opening one more closes its least recently used),
 * and a session idle for `http.sessions.idle_timeout` is closed. SSE streams carry a `: keepalive`
 * comment every `http.keepalive`; POST streams open with a priming event (id + `retry`) and a
 * dropped client resumes with `GET` + `Last-Event-ID` from the session's bounded replay buffer,
 * which is dropped with the session.
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
    const principal = await mcpPrincipal(this.ctx, req);
    const { agent, owner } = principal;
    const header = req.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let session = sessionId ? this.sessions.get(sessionId) : undefined;
    if (session && Date.now() - session.lastSeen > this.ctx.options.sessions.idleMs) {
      // Idle too long: closed now, not at the next sweep.
      await this.close(session.id);
      session = undefined;
    }
    if (sessionId && !session) throw new HttpError(404, 'SESSION_NOT_FOUND', 'No such MCP session (it ended or never existed). Initialize a new one.');
    if (session && session.owner !== owner) {
      throw new HttpError(403, 'SESSION_FORBIDDEN', 'This MCP session belongs to another agent.');
    }
    if (req.method === 'POST') {
      await rateLimit(this.ctx, agent.config.id, 'streamable_http');
      const body = await readJson(req, this.ctx.options.bodyLimit, { jsonRpc: true });
      await rateLimitBatch(this.ctx, agent.config.id, 'streamable_http', body);
      if (!session) {
        if (!isInitializeRequest(body)) throw new HttpError(400, 'INVALID_ARGUMENT', 'Send an initialize request first, or the mcp-session-id header of an open session.');
        session = await this.open(principal, req, negotiatedVersion(body));
      }
      session.lastSeen = Date.now();
      followNegotiatedVersion(req, session);
      holdFirstWrites(res, this.ctx.options.resume.primingHoldMs);
      await session.transport.handleRequest(req, res, body);
      return;
    }
    // GET (the session's stream) and DELETE (end it) need an open session.
    if (!session) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'The mcp-session-id header is required.');
    }
    session.lastSeen = Date.now();
    followNegotiatedVersion(req, session);
    await session.transport.handleRequest(req, res);
  }

  private async open({ agent, owner, current }: McpPrincipal, req: IncomingMessage, protocolVersion: string): Promise<Session> {
    const { runtime } = this.ctx;
    this.evictFor(owner);
    const server = createMcpServer({ service: runtime.service, agent, current, name: runtime.settings.config.server.name, readOnly: runtime.settings.config.server.read_only });
    const id = randomUUID();
    const { keepaliveMs, resume } = this.ctx.options;
    const events = new BoundedEventStore(resume);
    const session: Session = { id, owner, server, lastSeen: Date.now(), events, protocolVersion, transport: undefined as unknown as StreamableHTTPServerTransport };
    session.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => id,
      // Resumability (SEP-1699): a priming event with an id and `retry` opens each POST stream,
      // and a client whose connection dropped resumes with Last-Event-ID from this session's buffer.
      eventStore: events,
      retryInterval: resume.retryMs,
      keepAliveMs: keepaliveMs,
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
      events.clear();
    };
    instrumentSession(server, session.transport, { metrics: this.ctx.metrics, transport: 'streamable_http', approvalPage: approvalPage(this.ctx, req), command: this.ctx.runtime.links.command, logger: this.ctx.logger });
    return session;
  }

  private evictFor(owner: string): void {
    const mine = [...this.sessions.values()].filter((s) => s.owner === owner);
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
    session.events.clear();
  }

  async closeAll(): Promise<void> {
    clearInterval(this.sweeper);
    await Promise.all([...this.sessions.keys()].map((id) => this.close(id)));
  }
}

/**
 * Lets a POST stream's first bytes (headers and the resumability priming event) wait up to
 * `holdMs` for the answer, so that a quick answer leaves in the same socket write. The SDK
 * writes the priming event as soon as the request is accepted and the answer when the tool is
 * done: two writes and two wake-ups of the client, and the chunked stream's end a third.
 * Order and content are unchanged, only how the bytes are grouped; a call still running after
 * `holdMs` gets its priming event then (end() uncorks at once; `http.resume.priming_hold_ms`,
 * 0 = write at once as the SDK does). The cost: a connection that drops within the hold cannot
 * resume that call (no event id yet), as a drop before the priming event arrives never could.
 */
function holdFirstWrites(res: ServerResponse, holdMs: number): void {
  const socket = res.socket;
  if (holdMs <= 0 || !socket) return;
  // The socket is corked, not the response: on Node 22, a response corked before its headers
  // are flushed loses the body it writes afterwards (the client gets an empty stream; 20 and 24
  // do not). Released exactly once: at the hold's end, when the response is finished, or closed,
  // so a keep-alive socket never carries a cork into its next request.
  socket.cork();
  let corked = true;
  const release = (): void => {
    if (!corked) return;
    corked = false;
    clearTimeout(timer);
    socket.uncork();
  };
  const timer = setTimeout(release, holdMs);
  res.once('finish', release);
  res.once('close', release);
}

/** The version McpServer answers an initialize request with: the client's when supported, else the latest. */
function negotiatedVersion(body: unknown): string {
  const requested = (body as { params?: { protocolVersion?: unknown } }).params?.protocolVersion;
  return typeof requested === 'string' && SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/**
 * The version negotiated at initialize governs the session, not each request's
 * `mcp-protocol-version` header: the SDK decides per request whether a POST stream opens with
 * a resumability priming event (2025-11-25 and later), so a client that negotiated 2025-11-25
 * but labels one request with an older supported version would otherwise lose resumability on
 * it. An unsupported header is left alone, so the transport still answers it 400.
 */
function followNegotiatedVersion(req: IncomingMessage, session: Session): void {
  const header = req.headers['mcp-protocol-version'];
  if (typeof header !== 'string' || !SUPPORTED_PROTOCOL_VERSIONS.includes(header) || header === session.protocolVersion) return;
  req.headers['mcp-protocol-version'] = session.protocolVersion;
  // The SDK's Node adapter builds its Request from rawHeaders (name, value, name, value, …).
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === 'mcp-protocol-version') req.rawHeaders[i + 1] = session.protocolVersion;
  }
}
