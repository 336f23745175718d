import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { AssError } from '../../shared/errors.js';
import type { Runtime } from '../runtime.js';
import { type HttpContext, baseUrl } from './context.js';
import { ConnectionGuard, type ConnectionStats } from './connection-guard.js';
import { checkRequest } from './guard.js';
import { listenOn } from './listen.js';
import { SseEndpoint, SSE_MESSAGE_PATH } from './mcp-sse.js';
import { StreamableEndpoint } from './mcp-streamable.js';
import { Metrics } from './metrics.js';
import { readCacheFigures } from '../../adapters/cache/read-cache.js';
import { openApiDocument } from './openapi.js';
import type { HttpOptions } from './options.js';
import { stateRateLimiter } from '../rate-limit.js';
import { HttpError, sendError, sendJson } from './respond.js';
import { restWorded } from './rest-wording.js';
import { REST_ROUTES } from './rest.js';
import { checkOAuthOrigin, oauthFor } from '../oauth/index.js';
import { handleOAuthRoute, isOAuthPath } from '../oauth/routes.js';
import { renderOutboxMetrics } from '../../notify/metrics.js';
import { failureOutcome, NO_SPAN, type StepSpan } from '../tracing/tracing.js';

/**
 * Extra routes mounted beside the MCP transports and REST (the dashboard): every request whose
 * path is `prefix` or under it goes to `handle`, after the Host/Origin guard. `src/server` never
 * imports what is mounted; the `serve` and `dashboard` commands pass it in.
 */
export interface HttpMount {
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** When set, the old `/approvals/<id>` page redirects here. */
  approvalPage?(id: string): string;
  /** When set, OAuth's authorize step sends the browser here to sign in and consent. */
  consentPage?(id: string): string;
  close?(): Promise<void>;
}

export interface HttpServerHandle {
  /** `http(s)://host:port` actually bound (port 0 resolved). */
  url: string;
  port: number;
  metrics: Metrics;
  /** Open connections and what the connection guard evicted, refused and shed. */
  connections: Readonly<ConnectionStats>;
  /** Stops accepting, ends every session, closes the server (not the runtime). */
  close(): Promise<void>;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * `serve --http`: SSE (`/sse` + `/messages`), streamable HTTP (`/mcp`), REST (`/v1`),
 * `/healthz` and `/metrics` on one port. Every request passes the Host/Origin guard first;
 * MCP requests authenticate with `x-agent-key`, REST with `Authorization: Bearer`; tool calls
 * go through the one SecretService pipeline of `runtime`.
 */
export async function startHttpServer(runtime: Runtime, options: HttpOptions, mounts: HttpMount[] = []): Promise<HttpServerHandle> {
  const scheme = options.tls ? 'https' : 'http';
  checkOAuthOrigin(runtime.settings, scheme, options.host);
  // The sign-in store is opened (its PostgreSQL schema checked or migrated) before serving, as the state store is.
  await oauthFor(runtime);
  const metrics = new Metrics();
  const ctx: HttpContext = { runtime, options, metrics, limiter: stateRateLimiter(runtime.state, 'http', options.rateLimit), logger: runtime.logger, scheme };
  const streamable = new StreamableEndpoint(ctx);
  const sse = new SseEndpoint(ctx);

  const guard = new ConnectionGuard(options.connections);
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (!guard.begin(req, res)) return;
    // With tracing on, the request is the root span (auth and the tool call are its children).
    const serve = async (span: StepSpan): Promise<void> => {
      try {
        await route(req, res);
      } catch (error) {
        const status = sendError(res, error);
        span.set({ 'ass.outcome': failureOutcome(error) });
        if (status >= 500 && !(error instanceof HttpError)) runtime.logger.error({ errorName: (error as Error)?.name, path: safePath(req) }, 'http request failed');
      } finally {
        if (res.headersSent) span.set({ 'http.response.status_code': res.statusCode });
      }
    };
    const { tracer } = runtime;
    void (tracer ? tracer.span(`ass.http ${req.method}`, { 'http.request.method': req.method, 'http.route': familyOf(pathOf(req)) }, serve) : serve(NO_SPAN));
  };

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const family = familyOf(url.pathname);
    res.on('finish', () => metrics.observeHttp(family, res.statusCode));
    checkRequest(req, url, options, scheme);
    const path = url.pathname;
    const mount = mounts.find((m) => path === m.prefix || path.startsWith(`${m.prefix}/`));
    if (mount) return mount.handle(req, res);
    if (isOAuthPath(path)) return handleOAuthRoute(ctx, await oauthFor(runtime), req, res, url, mounts.find((m) => m.consentPage)?.consentPage);
    if (path === '/mcp') return streamable.handle(req, res);
    if (path === '/sse') return sse.open(req, res);
    if (path === SSE_MESSAGE_PATH) return sse.message(req, res, url);
    if (req.method === 'GET' && path === '/healthz') {
      const health = await runtime.backend.health().catch(() => ({ ok: false }));
      // Security: the backend's detail text stays in the operator's log; callers get ok or not.
      return sendJson(res, health.ok ? 200 : 503, { status: health.ok ? 'ok' : 'unavailable', backend: runtime.backend.kind });
    }
    if (req.method === 'GET' && path === '/metrics') {
      const approvalsPending = (await runtime.approvals.pending()).length;
      const text = (await metrics.render({ approvalsPending, sessions: { streamable_http: streamable.size, sse: sse.size }, connections: guard.stats, cache: readCacheFigures(runtime.backend) })) + renderOutboxMetrics(await runtime.state.readOutbox());
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && path === '/v1/openapi.json') return sendJson(res, 200, openApiDocument(baseUrl(ctx, req)));
    if (req.method === 'GET' && /^\/approvals\/[^/]+$/.test(path)) return approvalPage(req, res, path);
    const matching = REST_ROUTES.map((r) => ({ r, params: r.match(path) })).filter((m) => m.params !== null);
    const hit = matching.find((m) => m.r.method === req.method);
    if (!hit) {
      if (matching.length > 0) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${path} does not take ${req.method}.`, { allow: [...new Set(matching.map((m) => m.r.method))].join(', ') });
      throw new HttpError(404, 'ROUTE_NOT_FOUND', 'No such route. See /v1/openapi.json.');
    }
    const started = performance.now();
    try {
      await hit.r.handle(ctx, req, res, hit.params!, url);
      metrics.observeCall('rest', hit.r.tool, 'ok', (performance.now() - started) / 1000);
    } catch (error) {
      const code = error instanceof HttpError ? error.code : ((error as { code?: string })?.code ?? 'INTERNAL');
      metrics.observeCall('rest', hit.r.tool, typeof code === 'string' ? code : 'INTERNAL', (performance.now() - started) / 1000);
      throw restWorded(error);
    }
  }

  /** A page for the human: the CLI command, and the dashboard when one is configured. Looks nothing up. */
  const APPROVAL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  function approvalPage(_req: IncomingMessage, res: ServerResponse, path: string): void {
    let id: string;
    try {
      id = decodeURIComponent(path.slice('/approvals/'.length));
    } catch {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Bad approval id.');
    }
    // Security: only an id of the form approvals have is shown, since the page prints it inside a
    // shell command for the admin to copy (a link ending `1; curl …|sh` would otherwise be echoed; R-10).
    if (!APPROVAL_ID.test(id)) throw new HttpError(404, 'APPROVAL_NOT_FOUND', 'No such approval request: an approval id is a UUID.');
    const moved = mounts.find((m) => m.approvalPage)?.approvalPage!(id);
    if (moved) {
      res.writeHead(302, { location: moved, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    const safe = escapeHtml(id);
    const html = `<!doctype html><meta charset="utf-8"><title>Approve ${safe}</title><h1>Approval request ${safe}</h1>` +
      `<p>An agent is waiting for a human to approve this request. With the admin key, run:</p>` +
      `<pre>agent-secret-store approvals approve ${safe}</pre><p>or deny it with <code>agent-secret-store approvals deny ${safe}</code>. ` +
      `<code>agent-secret-store approvals list</code> shows what it asks for.</p>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'", 'cache-control': 'no-store' });
    res.end(html);
  }

  // Timeouts are checked this often (Node's default, 30 s, would let half-sent requests linger).
  const checking = { connectionsCheckingInterval: Math.max(250, Math.min(1000, options.connections.headersTimeoutMs / 2)) };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key, ...checking }, handler) : createHttpServer(checking, handler);
  server.keepAliveTimeout = 65_000;
  guard.attach(server);
  const bound = await listenOn(server, options, scheme);
  return {
    url: bound.origin,
    port: bound.port,
    metrics,
    connections: guard.stats,
    async close() {
      await Promise.all([streamable.closeAll(), sse.closeAll(), ...mounts.map((m) => m.close?.())]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

function familyOf(path: string): string {
  if (path === '/mcp' || path === '/sse' || path === SSE_MESSAGE_PATH || path === '/healthz' || path === '/metrics') return path.slice(1);
  if (path.startsWith('/v1/')) return 'rest';
  if (path === '/dashboard' || path.startsWith('/dashboard/')) return 'dashboard';
  return 'other';
}

/** The request's path, without the query. */
function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/** The path without anything after the first namespace segment, for logs. */
function safePath(req: IncomingMessage): string {
  return (req.url ?? '').split('?')[0]!.split('/').slice(0, 3).join('/');
}
