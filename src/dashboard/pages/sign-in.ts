import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { authenticateAdmin } from '../../server/authenticate.js';
import { AGENT_KEY_PREFIX, ADMIN_KEY_PREFIX } from '../../server/keys.js';
import { isAssError } from '../../shared/errors.js';
import { sendPage, type DashboardContext, type DashboardDeps, type DashboardEnv } from '../context.js';
import { html } from '../html.js';
import { BASE } from '../layout.js';
import { clientAddress, cookieName } from '../security.js';
import { hashKey } from '../../server/keys.js';
import { tokensMatch } from '../sessions.js';
import { oidcButton } from './oidc-sign-in.js';

/**
 * Sign-in with an admin key (never an agent key or a token), sign-out. The form carries a
 * one-time token that must match a cookie set with the form (login CSRF). Wrong keys are
 * audited and slowed per client address.
 */


/** Where to go after sign-in: only a dashboard path, never another site. */
function safeNext(next: string | undefined): string {
  return next && /^\/dashboard\/[A-Za-z0-9/_.@+=%-]*$/.test(next) && !next.startsWith('/dashboard/sign-') ? next : `${BASE}/approvals`;
}

function form(c: DashboardContext, deps: DashboardDeps, error?: string, status: 200 | 401 | 429 = 200): Response {
  const token = randomBytes(24).toString('base64url');
  setCookie(c, cookieName(deps.browserScheme, 'signin'), token, { httpOnly: true, sameSite: 'Strict', secure: deps.browserScheme === 'https', path: '/' });
  const next = safeNext(c.req.query('next'));
  const body = html`<form method="post" action="${BASE}/sign-in" class="card sign-in">
<input type="hidden" name="_signin" value="${token}">
<input type="hidden" name="next" value="${next}">
<label for="admin-key">Admin key</label>
<input id="admin-key" name="admin_key" type="password" autocomplete="current-password" required autofocus spellcheck="false" aria-describedby="admin-key-help">
<p id="admin-key-help" class="help">The <code>ass_admin_…</code> key printed by <code>agent-secret-store init</code> or <code>admins add</code>. Agent keys and tokens cannot sign in.</p>
<button type="submit" class="primary">Sign in</button>
</form>
${oidcButton(deps, next)}`;
  return sendPage(c, { title: 'Sign in', body, ...(error ? { notice: { kind: 'error' as const, text: error } } : c.req.query('done') === 'signed_out' ? { notice: { kind: 'ok' as const, text: 'Signed out.' } } : {}) }, status);
}

export function registerSignIn(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(`${BASE}/sign-in`, (c) => form(c, deps));

  app.post(`${BASE}/sign-in`, async (c) => {
    const body = await c.req.parseBody();
    const address = clientAddress(c, deps.settings().config.dashboard?.trusted_proxies);
    const wait = deps.throttle.waitSeconds(address);
    if (wait > 0) return form(c, deps, `Too many wrong keys from this address. Wait ${wait} s and try again.`, 429);
    // Security: the form's token must match the cookie set with it, so another site cannot sign a browser in.
    const pre = getCookie(c, cookieName(deps.browserScheme, 'signin'));
    if (!pre || !tokensMatch(body._signin, pre)) return form(c, deps, 'The sign-in form expired. Enter the key again.', 401);
    const key = typeof body.admin_key === 'string' ? body.admin_key.trim() : '';
    let adminId: string;
    try {
      if (key.startsWith('eyJ')) throw new Error('token');
      adminId = authenticateAdmin(deps.settings(), key);
    } catch (error) {
      const count = deps.throttle.fail(address);
      const kind = !key ? 'empty' : key.startsWith('eyJ') ? 'a token' : key.startsWith(ADMIN_KEY_PREFIX) ? 'an unknown admin key' : key.startsWith(AGENT_KEY_PREFIX) ? 'an agent key or unknown key' : 'not a key';
      await deps.runtime.audit.append({ actor: 'system', action: 'dashboard.sign_in', outcome: 'denied', reason: `${kind} from ${address.slice(0, 64)} (failure ${count})` });
      const message = key.startsWith('eyJ')
        ? 'That is a token. Tokens are for agents; sign in with an admin key.'
        : isAssError(error) ? error.message : 'Unknown admin key.';
      return form(c, deps, message, 401);
    }
    deps.throttle.succeed(address);
    const { id } = await deps.sessions.create(adminId, hashKey(key));
    await deps.runtime.audit.append({ actor: `admin:${adminId}`, action: 'dashboard.sign_in', outcome: 'ok', reason: `from ${address.slice(0, 64)}` });
    deleteCookie(c, cookieName(deps.browserScheme, 'signin'), { path: '/', secure: deps.browserScheme === 'https' });
    setCookie(c, cookieName(deps.browserScheme), id, { httpOnly: true, sameSite: 'Strict', secure: deps.browserScheme === 'https', path: '/' });
    return c.redirect(safeNext(typeof body.next === 'string' ? body.next : undefined), 303);
  });

  app.post(`${BASE}/sign-out`, async (c) => {
    const session = c.get('session');
    await deps.sessions.end(c.get('sessionId'));
    await deps.runtime.audit.append({ actor: session.person ? (session.person.adminsGroup !== undefined ? `admin:${session.person.human}` : session.person.human) : `admin:${session.adminId}`, action: 'dashboard.sign_out', outcome: 'ok' });
    deleteCookie(c, cookieName(deps.browserScheme), { path: '/', secure: deps.browserScheme === 'https' });
    return c.redirect(`${BASE}/sign-in?done=signed_out`, 303);
  });
}
