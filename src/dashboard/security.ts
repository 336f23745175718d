import { getConnInfo } from '@hono/node-server/conninfo';
import { clientAddressOf, trustedProxies } from '../server/http/client-address.js';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { DashboardDeps, DashboardEnv } from './context.js';
import { BASE } from './layout.js';
import { isLimited, tokensMatch, type Session } from './sessions.js';
import { oidcIssuerHash } from '../server/oauth/oidc-person.js';

/**
 * The dashboard's browser defences, applied to every response and request:
 * - headers: a CSP with no inline script or style and `frame-ancestors 'none'`, no caching,
 *   no sniffing, no referrer;
 * - sessions: every page but sign-in and the assets needs a live session cookie;
 * - CSRF: every POST needs the session's token in `_csrf` and, when the browser says where it
 *   comes from (Origin, Sec-Fetch-Site), this very origin.
 */

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

export function cookieName(scheme: 'http' | 'https', name: 'session' | 'signin' = 'session'): string {
  // Security: under TLS the __Host- prefix binds the cookie to this host, path / and Secure.
  return scheme === 'https' ? `__Host-ass_${name}` : `ass_${name}`;
}

export function securityHeaders(): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    await next();
    // The OAuth consent form redirects to the client's own origin, which form-action must name.
    const formTarget = c.get('formActionOrigin');
    c.res.headers.set('content-security-policy', formTarget ? CSP.replace("form-action 'self'", `form-action 'self' ${formTarget}`) : CSP);
    c.res.headers.set('x-frame-options', 'DENY');
    c.res.headers.set('x-content-type-options', 'nosniff');
    // Security: same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on form posts, which the guard refuses.
    c.res.headers.set('referrer-policy', 'same-origin');
    c.res.headers.set('cross-origin-opener-policy', 'same-origin');
    c.res.headers.set('cross-origin-resource-policy', 'same-origin');
    if (!c.req.path.startsWith(`${BASE}/assets/`)) c.res.headers.set('cache-control', 'no-store');
  };
}

const PUBLIC = new Set([`${BASE}/sign-in`, `${BASE}/sign-in/oidc`, `${BASE}/sign-in/oidc/callback`]);

/**
 * What a person signed in through the identity provider may reach: the consent page, their own
 * sign-ins (the page filters to them) and sign-out. Everything else (approvals, secrets, agents,
 * audit, live events) is an admin's, refused by default.
 */
function limitedMayReach(path: string): boolean {
  return path.startsWith(`${BASE}/oauth/consent/`) || path === `${BASE}/sign-ins` || /^\/dashboard\/sign-ins\/[^/]+\/revoke$/.test(path) || path === `${BASE}/sign-out`;
}

/** Whether a session still stands under the config in force now. */
function stillValid(deps: DashboardDeps, session: Session): boolean {
  const config = deps.settings().config;
  if (session.person) {
    // A person's session ends when sign-in with the provider is turned off or points elsewhere.
    const oidc = config.auth.oidc;
    if (!oidc || oidcIssuerHash(oidc.issuer) !== session.person.issuerHash) return false;
    // Security: an admin's session through the provider ends as soon as the config in force no
    // longer names the group it was given for (admins_group follows the file live, as admins do).
    return session.person.adminsGroup === undefined || oidc.admins_group === session.person.adminsGroup;
  }
  return config.admins.some((a) => a.id === session.adminId && a.key_sha256 === session.keySha256);
}

/**
 * The session of a cookie if it still stands (in the shared store, within its limits, and under
 * the config in force now), without moving its idle clock: what an open events stream re-checks.
 */
export async function standingSession(deps: DashboardDeps, id: string | undefined): Promise<Session | null> {
  const session = await deps.sessions.peek(id);
  return session && stillValid(deps, session) ? session : null;
}

/** Loads the session; without one, pages redirect to sign-in and other requests get 401. */
export function requireSession(deps: DashboardDeps): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    if (PUBLIC.has(c.req.path) || c.req.path.startsWith(`${BASE}/assets/`)) return next();
    const id = getCookie(c, cookieName(deps.browserScheme));
    const session = await deps.sessions.touch(id);
    if (session) {
      // An admin removed from the config, or whose key was replaced, loses every session (on every replica) at its next request.
      if (!stillValid(deps, session)) {
        await deps.sessions.endAllFor(session.adminId);
      } else if (isLimited(session) && !limitedMayReach(c.req.path)) {
        return c.text('You are signed in with your identity provider: you may allow apps and manage your own sign-ins, nothing else. An admin signs in with an admin key, or is a member of auth.oidc.admins_group at the identity provider.', 403);
      } else {
        c.set('session', session);
        c.set('sessionId', id!);
        c.set('signIns', Boolean(deps.settings().config.auth.oauth));
        return next();
      }
    }
    if (c.req.method === 'GET' && c.req.query('partial') !== '1' && c.req.path !== `${BASE}/events`) {
      const back = c.req.path.startsWith(`${BASE}/`) && c.req.path !== `${BASE}/sign-out` ? `?next=${encodeURIComponent(c.req.path)}` : '';
      return c.redirect(`${BASE}/sign-in${back}`, 303);
    }
    return c.text('Sign in first: your session has ended.', 401);
  };
}

/** Origin and CSRF token checks on every state-changing request (sign-in has its own token). */
export function checkCsrf(deps: DashboardDeps): MiddlewareHandler<DashboardEnv> {
  return async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const origin = c.req.header('origin');
    const host = (c.req.header('host') ?? '').toLowerCase();
    // Security: a browser always names a cross-site request; refuse it even with a token. Through
    // the public URL's host (a TLS-terminating proxy in front) only the public origin is ours.
    const own = deps.publicUrl?.host === host ? deps.publicUrl.origin : `${deps.scheme}://${host}`;
    if (origin !== undefined && origin.toLowerCase() !== own) return c.text('Cross-site request refused.', 403);
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') return c.text('Cross-site request refused.', 403);
    if (PUBLIC.has(c.req.path)) return next();
    const session = c.get('session');
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    if (!session || !tokensMatch(form._csrf, session.csrf)) return c.text('Missing or wrong CSRF token: reload the page and try again.', 403);
    return next();
  };
}

/**
 * The client's address, for throttling wrong keys and for audit records: the TCP peer, or with
 * `trusted` (dashboard.trusted_proxies) the address a trusted proxy forwarded (client-address.ts).
 */
export function clientAddress(c: Parameters<MiddlewareHandler<DashboardEnv>>[0], trusted?: readonly string[]): string {
  let peer: string | undefined;
  try {
    peer = getConnInfo(c).remote.address;
  } catch {
    peer = undefined;
  }
  return clientAddressOf(peer, c.req.header('x-forwarded-for'), trustedProxies(trusted));
}
