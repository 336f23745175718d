import type { HttpBindings } from '@hono/node-server';
import type { Context } from 'hono';
import type { Runtime } from '../server/runtime.js';
import type { Settings } from '../server/settings.js';
import type { SafeHtml } from './html.js';
import { liveRegion, page, type PageInput } from './layout.js';
import type { LiveChanges } from './live-changes.js';
import { isLimited, type Session, type SessionStore } from './sessions.js';
import type { SignInThrottle } from './sign-in-throttle.js';

/** What every dashboard page shares. One per dashboard (per process). */
export interface DashboardDeps {
  runtime: Runtime;
  /** This server's own scheme (TLS in the config or not). */
  scheme: 'http' | 'https';
  /**
   * The scheme the browser sees: https under TLS, or behind a TLS-terminating proxy when
   * `dashboard.public_url` is https. Decides the cookies' `Secure` flag and `__Host-` prefix.
   */
  browserScheme: 'http' | 'https';
  /** `dashboard.public_url`'s origin and host (lower case): accepted as this dashboard's own. */
  publicUrl: { origin: string; host: string } | null;
  /** The config as on disk now (admins and agents added by the CLI show up without a restart). */
  settings: () => Settings;
  sessions: SessionStore;
  throttle: SignInThrottle;
  live: LiveChanges;
  /** `node` and the CLI script, for the `mcpServers` snippet shown when an agent is added. */
  command: { node: string; cli: string };
}

export type DashboardEnv = { Bindings: HttpBindings; Variables: { session: Session; sessionId: string; formActionOrigin?: string; /** `auth.oauth` is on (security.ts): the Sign-ins section exists. */ signIns?: boolean } };
export type DashboardContext = Context<DashboardEnv>;

/** Renders a page, or only its live region when the shipped script asks (`?partial=1`). */
export function sendPage(c: DashboardContext, input: Omit<PageInput, 'session'>, status: 200 | 400 | 401 | 403 | 404 | 409 | 429 | 500 = 200): Response {
  const session = c.get('session');
  const full: PageInput = { ...input, ...(session ? { session: { adminId: session.person?.human ?? session.adminId, csrf: session.csrf, ...(isLimited(session) ? { limited: true } : {}), signIns: c.get('signIns') === true } } : {}) };
  const body: SafeHtml = c.req.query('partial') === '1' ? liveRegion(full) : page(full);
  return c.html(body.text, status);
}

/** Fixed texts for `?done=…` after an action (never the query's own text). */
export const DONE_NOTICES: Record<string, string> = {
  approved: 'Approved. The agent can retry now.',
  approval_recorded: 'Your approval is recorded; more approvers are needed.',
  approved_delayed: 'Approved. It takes effect when the delay ends, unless someone cancels it.',
  denied: 'Denied. The agent’s retry will fail.',
  cancelled: 'Cancelled. The approval will not take effect.',
  stored: 'Stored.',
  rotated: 'Rotated: a new version is in place.',
  deleted: 'Deleted.',
  revoked: 'Revoked: its key, tokens and approvals stopped working.',
  signed_out: 'Signed out.',
};

export function doneNotice(c: DashboardContext): PageInput['notice'] {
  const done = c.req.query('done');
  return done && Object.hasOwn(DONE_NOTICES, done) ? { kind: 'ok', text: DONE_NOTICES[done]! } : undefined;
}
