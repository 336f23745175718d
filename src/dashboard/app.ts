import { getRequestListener } from '@hono/node-server';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Runtime } from '../server/runtime.js';
import { AssError, isAssError } from '../shared/errors.js';
import { registerAssets } from './assets.js';
import { sendPage, type DashboardDeps, type DashboardEnv } from './context.js';
import { html } from './html.js';
import { BASE } from './layout.js';
import { LiveChanges } from './live-changes.js';
import { registerAgents } from './pages/agents.js';
import { registerApprovals } from './pages/approvals.js';
import { registerAudit } from './pages/audit.js';
import { registerEvents } from './pages/events.js';
import { registerSecrets } from './pages/secrets.js';
import { registerSignIn } from './pages/sign-in.js';
import { CONSENT_PATH, registerOAuth } from './pages/oauth.js';
import { registerOidcSignIn } from './pages/oidc-sign-in.js';
import { checkCsrf, requireSession, securityHeaders } from './security.js';
import { SessionStore, type SessionLimits } from './sessions.js';
import { openSessionRows } from '../server/session-rows-open.js';
import { SignInThrottle } from './sign-in-throttle.js';

/**
 * The one place that mounts the dashboard's pages. `createDashboard` returns a Node request
 * handler for everything under `/dashboard` that `serve --http` and `agent-secret-store
 * dashboard` mount beside their own routes (src/server never imports this folder).
 */

export interface DashboardOptions {
  scheme: 'http' | 'https';
  sessionLimits?: SessionLimits;
  /** `node` and the CLI script, for the `mcpServers` snippet of a new agent. */
  command?: { node: string; cli: string };
}

export interface Dashboard {
  prefix: string;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Where `/approvals/<id>` (the old page) now points. */
  approvalPage(id: string): string;
  /** Where OAuth's authorize step sends the browser to sign in and consent. */
  consentPage(id: string): string;
  close(): Promise<void>;
}

const STATUS: Record<string, 400 | 401 | 403 | 404 | 409 | 429 | 500> = {
  INVALID_ARGUMENT: 400, UNAUTHENTICATED: 401, HUMAN_AUTH_REQUIRED: 403, POLICY_DENIED: 403, APPROVAL_NOT_FOUND: 404, SECRET_NOT_FOUND: 404, CONFLICT: 409, VERSION_CONFLICT: 409, RATE_LIMITED: 429,
};

export function createDashboard(runtime: Runtime, options: DashboardOptions): Dashboard {
  const publicUrl = runtime.settings.config.dashboard?.public_url;
  const deps: DashboardDeps = {
    runtime,
    scheme: options.scheme,
    browserScheme: options.scheme === 'https' || publicUrl?.startsWith('https:') ? 'https' : 'http',
    publicUrl: publicUrl ? { origin: new URL(publicUrl).origin.toLowerCase(), host: new URL(publicUrl).host.toLowerCase() } : null,
    settings: () => runtime.live.refresh(),
    sessions: new SessionStore(runtime.clock, () => openSessionRows(runtime), options.sessionLimits),
    throttle: new SignInThrottle(runtime.clock),
    live: new LiveChanges(runtime, () => [runtime.settings.loaded.file]),
    command: options.command ?? { node: process.execPath, cli: process.argv[1] ?? 'agent-secret-store' },
  };
  const app = new Hono<DashboardEnv>();
  app.use('*', securityHeaders());
  app.use('*', bodyLimit({ maxSize: 128 * 1024, onError: (c) => c.text('Request body too large.', 413) }));
  registerAssets(app);
  app.use('*', requireSession(deps));
  app.use('*', checkCsrf(deps));
  registerSignIn(app, deps);
  registerOidcSignIn(app, deps);
  registerEvents(app, deps);
  registerApprovals(app, deps);
  registerSecrets(app, deps);
  registerAgents(app, deps);
  registerAudit(app, deps);
  registerOAuth(app, deps);
  app.notFound((c) => sendPage(c, { title: 'Not found', body: html`<p>There is no such page. <a href="${BASE}/approvals">Go to the approvals</a>.</p>` }, 404));
  app.onError((error, c) => {
    if (isAssError(error)) {
      const status = STATUS[error.code] ?? (error.fault === 'caller' ? 400 : 500);
      return sendPage(c, { title: status === 404 ? 'Not found' : 'That did not work', body: html`<p><a href="${BASE}/approvals">Back to the approvals</a></p>`, notice: { kind: 'error', text: error.message } }, status);
    }
    // Security: an unexpected error's text may name hosts or paths; the page says only that it failed.
    runtime.logger.error({ errorName: (error as Error)?.name, path: c.req.path.split('/').slice(0, 3).join('/') }, 'dashboard request failed');
    return sendPage(c, { title: 'Something went wrong', body: html`<p>The server could not complete this. The operator’s log has the details.</p>`, notice: { kind: 'error', text: new AssError('INTERNAL', 'Internal error.').message } }, 500);
  });
  const listener = getRequestListener(app.fetch, { overrideGlobalObjects: false });
  return {
    prefix: BASE,
    handle: (req, res) => listener(req, res),
    approvalPage: (id) => `${BASE}/approvals/${encodeURIComponent(id)}`,
    consentPage: (id) => `${CONSENT_PATH}/${encodeURIComponent(id)}`,
    close: async () => deps.live.stop(),
  };
}
