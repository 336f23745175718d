import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { checkRequest } from '../server/http/guard.js';
import { listenOn } from '../server/http/listen.js';
import type { HttpOptions } from '../server/http/options.js';
import { HttpError, sendError } from '../server/http/respond.js';
import type { Runtime } from '../server/runtime.js';
import { createDashboard } from './app.js';

/**
 * `agent-secret-store dashboard`: the dashboard alone, for a setup whose agents use stdio
 * servers. Same config, state and audit as those servers (changes they make appear live), same
 * Host/Origin guard as `serve --http`; no MCP or REST routes.
 */
export async function startStandaloneDashboard(runtime: Runtime, options: HttpOptions): Promise<{ url: string; close(): Promise<void> }> {
  const scheme = options.tls ? 'https' : 'http';
  const dashboard = createDashboard(runtime, { scheme });
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://placeholder');
      checkRequest(req, url, options, scheme);
      const path = url.pathname;
      if (path === dashboard.prefix || path.startsWith(`${dashboard.prefix}/`)) return dashboard.handle(req, res);
      const old = /^\/approvals\/([^/]+)$/.exec(path);
      if (req.method === 'GET' && (path === '/' || old)) {
        let target = `${dashboard.prefix}/approvals`;
        if (old) {
          try {
            target = dashboard.approvalPage(decodeURIComponent(old[1]!).slice(0, 100));
          } catch {
            throw new HttpError(400, 'INVALID_ARGUMENT', 'Bad approval id.');
          }
        }
        res.writeHead(302, { location: target, 'cache-control': 'no-store' });
        res.end();
        return;
      }
      throw new HttpError(404, 'ROUTE_NOT_FOUND', 'This is the dashboard only: open /dashboard.');
    })().catch((error: unknown) => {
      const status = sendError(res, error);
      if (status >= 500 && !(error instanceof HttpError)) runtime.logger.error({ errorName: (error as Error)?.name }, 'dashboard request failed');
    });
  };
  const server: Server = options.tls ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler) : createHttpServer(handler);
  const bound = await listenOn(server, options, scheme, { port: '--port', host: '--host' });
  return {
    url: `${bound.origin}${dashboard.prefix}`,
    async close() {
      await dashboard.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
