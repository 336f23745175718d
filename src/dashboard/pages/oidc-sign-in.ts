import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import * as oidcClient from 'openid-client';
import type { OidcConfig } from '../../config/auth-schema.js';
import { oauthFor } from '../../server/oauth/index.js';
import { cleanLabel, isValidSubject, oidcHuman, oidcIssuerHash, templatesForGroups } from '../../server/oauth/oidc-person.js';
import { openOidcPending, sealOidcPending, type OidcPendingSecrets } from '../../server/oauth/oidc-pending.js';
import { RateLimiter } from '../../server/rate-limit.js';
import { sendPage, type DashboardContext, type DashboardDeps, type DashboardEnv } from '../context.js';
import { html } from '../html.js';
import { BASE } from '../layout.js';
import { clientAddress, cookieName } from '../security.js';

/**
 * "Sign in with <provider>": the dashboard as an OpenID Connect relying party (auth.oidc), with
 * openid-client doing the protocol: discovery from `${issuer}/.well-known/openid-configuration`
 * at every sign-in (keys rotate; a provider that is down gives a clear page), authorization code
 * with PKCE S256, `state` and `nonce`, and the ID token checked for issuer, audience, expiry,
 * nonce and signature (the provider's JWKS). A member of `admins_group` gets an admin's session;
 * anyone else whose groups map to no template is refused and nothing is created; otherwise they
 * get a limited session (sessions.ts `OidcPerson`).
 *
 * Between leaving for the provider and its callback, the sign-in (PKCE verifier, state, nonce,
 * return path) is kept in the shared OAuth store, sealed under the id in the browser's cookie
 * (oauth/oidc-pending.ts): the callback may reach any replica, and is answered once.
 */

export const OIDC_START_PATH = `${BASE}/sign-in/oidc`;
export const OIDC_CALLBACK_PATH = `${BASE}/sign-in/oidc/callback`;

const PENDING_TTL_MS = 10 * 60_000;
/** Sign-ins a person starts per minute from one address (each one costs a discovery request to the provider). */
const STARTS_PER_MINUTE = 20;

/** The sign-in button's provider name: `display_name`, else the issuer's host. */
export function providerName(oidc: OidcConfig): string {
  return oidc.display_name ?? new URL(oidc.issuer).host;
}

function isLoopbackHost(hostname: string): boolean {
  const bare = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Where to go after sign-in: only the consent page or the sign-ins page (a person may reach nothing else). */
function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/dashboard\/oauth\/consent\/[A-Za-z0-9_-]{1,100}$/.test(next) ? next : `${BASE}/sign-ins`;
}

/** Turns a failure into a page: the person learns what to do, the operator's log gets the cause (never a token). */
function failure(c: DashboardContext, deps: DashboardDeps, problem: 'unreachable' | 'refused' | 'expired', cause?: unknown): Response {
  if (cause !== undefined) {
    const error = cause as { name?: string; code?: string; message?: string };
    deps.runtime.logger.warn({ problem, errorName: error?.name, errorCode: error?.code, detail: String(error?.message ?? cause).slice(0, 300) }, 'sign-in with the identity provider failed');
  }
  const text = {
    unreachable: 'The identity provider could not be reached. Try again later, or ask an operator to check auth.oidc.issuer.',
    refused: 'The identity provider’s answer could not be verified, so you are not signed in. Start again; if it keeps failing, the operator’s log has the reason.',
    expired: 'This sign-in expired or was already used. Start again.',
  }[problem];
  return sendPage(c, { title: 'Sign-in failed', body: html`<p><a href="${BASE}/sign-in">Back to sign-in</a></p>`, notice: { kind: 'error', text } }, problem === 'unreachable' ? 500 : 401);
}

/** The network-level failures of fetch (connection refused or reset, DNS, timeout). */
function isUnreachable(error: unknown): boolean {
  const e = error as { name?: string; code?: string; cause?: unknown };
  if (e?.name === 'TypeError' || e?.name === 'AbortError' || e?.name === 'TimeoutError') return true;
  return e?.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' || (e?.cause !== undefined && e.cause !== error && isUnreachable(e.cause));
}

/**
 * The provider's configuration by discovery (every sign-in and every callback: keys rotate, and
 * the callback may reach a replica that did not start the sign-in).
 */
async function discover(deps: DashboardDeps, oidc: OidcConfig): Promise<oidcClient.Configuration> {
  const issuer = new URL(oidc.issuer);
  const config = await oidcClient.discovery(issuer, oidc.client_id, undefined, oidcClient.ClientSecretPost(clientSecret(deps, oidc)), {
    // Plain http only for a provider on loopback (a test or a local provider); anywhere else https.
    ...(issuer.protocol === 'http:' && isLoopbackHost(issuer.hostname) ? { execute: [oidcClient.allowInsecureRequests] } : {}),
    timeout: 15,
  });
  // Security: the ID token's signature is checked against the provider's JWKS too, not only TLS.
  oidcClient.enableNonRepudiationChecks(config);
  return config;
}

export function registerOidcSignIn(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  const starts = new RateLimiter(STARTS_PER_MINUTE, STARTS_PER_MINUTE, () => deps.runtime.clock().getTime());
  const store = async () => {
    // auth.oidc needs auth.oauth (config schema): its store is where sign-ins wait, shared by replicas.
    const oauth = await oauthFor(deps.runtime);
    if (!oauth) throw new Error('auth.oidc is set without auth.oauth');
    return oauth;
  };
  const cookie = (): string => `${cookieName(deps.browserScheme, 'signin')}_oidc`;

  app.get(OIDC_START_PATH, async (c) => {
    const oidc = deps.settings().config.auth.oidc;
    if (!oidc) return sendPage(c, { title: 'Not found', body: html`<p>Sign-in with an identity provider is not set up here (auth.oidc).</p>` }, 404);
    const now = deps.runtime.clock().getTime();
    // Security: anyone may open this page; bound what one address makes us fetch and keep.
    const verdict = starts.take(`ip:${clientAddress(c)}`);
    if (!verdict.ok) return sendPage(c, { title: 'Sign-in failed', body: html``, notice: { kind: 'error', text: `Too many sign-ins from this address; try again in ${verdict.retryAfterS} s.` } }, 429);
    let config: oidcClient.Configuration;
    try {
      config = await discover(deps, oidc);
    } catch (error) {
      return failure(c, deps, isUnreachable(error) ? 'unreachable' : 'refused', error);
    }
    const origin = deps.publicUrl?.origin ?? `${deps.scheme}://${(c.req.header('host') ?? '').toLowerCase()}`;
    const entry: OidcPendingSecrets = {
      issuer: oidc.issuer,
      clientId: oidc.client_id,
      verifier: oidcClient.randomPKCECodeVerifier(),
      state: oidcClient.randomState(),
      nonce: oidcClient.randomNonce(),
      redirectUri: `${origin}${OIDC_CALLBACK_PATH}`,
      next: safeNext(c.req.query('next')),
    };
    const id = randomBytes(32).toString('base64url');
    // Full: the oldest unfinished sign-in makes room, so no one can lock everyone else out.
    await (await store()).addOidcPending(id, { sealed: sealOidcPending(id, entry), createdAt: now, expiresAt: now + PENDING_TTL_MS });
    // Security: the callback must come back to the browser that started it (login CSRF): the
    // pending entry is found only through this cookie, and `state` must match it. Lax, as the
    // callback is a top-level navigation from the provider's site.
    setCookie(c, cookie(), id, { httpOnly: true, sameSite: 'Lax', secure: deps.browserScheme === 'https', path: OIDC_CALLBACK_PATH, maxAge: PENDING_TTL_MS / 1000 });
    const target = oidcClient.buildAuthorizationUrl(config, {
      redirect_uri: entry.redirectUri,
      scope: oidc.scopes.join(' '),
      code_challenge: await oidcClient.calculatePKCECodeChallenge(entry.verifier),
      code_challenge_method: 'S256',
      state: entry.state,
      nonce: entry.nonce,
    });
    return c.redirect(target.href, 303);
  });

  app.get(OIDC_CALLBACK_PATH, async (c) => {
    const oidc = deps.settings().config.auth.oidc;
    if (!oidc) return sendPage(c, { title: 'Not found', body: html`<p>Sign-in with an identity provider is not set up here (auth.oidc).</p>` }, 404);
    const id = getCookie(c, cookie());
    deleteCookie(c, cookie(), { path: OIDC_CALLBACK_PATH, secure: deps.browserScheme === 'https' });
    if (!id || id.length > 100) return failure(c, deps, 'expired');
    // Single use, on every replica: the store hands the record to one callback only.
    const stored = await (await store()).takeOidcPending(id);
    const entry = stored ? openOidcPending(id, stored.sealed) : undefined;
    // Begun under another provider or client id (auth.oidc changed since): start again.
    if (!entry || entry.issuer !== oidc.issuer || entry.clientId !== oidc.client_id) return failure(c, deps, 'expired');
    const address = clientAddress(c).slice(0, 64);
    let claims: Record<string, unknown>;
    let config: oidcClient.Configuration;
    try {
      config = await discover(deps, oidc);
    } catch (error) {
      return failure(c, deps, isUnreachable(error) ? 'unreachable' : 'refused', error);
    }
    try {
      const current = new URL(entry.redirectUri);
      current.search = new URL(c.req.url).search;
      const tokens = await oidcClient.authorizationCodeGrant(config, current, { pkceCodeVerifier: entry.verifier, expectedState: entry.state, expectedNonce: entry.nonce, idTokenExpected: true });
      claims = { ...(tokens.claims() ?? {}) };
      if (!isValidSubject(claims.sub)) throw Object.assign(new Error('the ID token has no usable sub'), { code: 'BAD_SUBJECT' });
      // Many providers put email, name and groups only in UserInfo; the ID token's own claims win.
      if (claims[oidc.groups_claim] === undefined || claims.email === undefined) {
        const info = await oidcClient.fetchUserInfo(config, tokens.access_token, claims.sub);
        claims = { ...info, ...claims };
      }
    } catch (error) {
      await deps.runtime.audit.append({ actor: 'system', action: 'dashboard.sign_in', outcome: 'denied', reason: `identity provider sign-in failed from ${address}` });
      return failure(c, deps, isUnreachable(error) ? 'unreachable' : 'refused', error);
    }
    const sub = claims.sub as string;
    const label = cleanLabel(claims.email) ?? cleanLabel(claims.name) ?? cleanLabel(claims.preferred_username);
    const human = oidcHuman(sub, label);
    // Security: groups only from the claims checked above (the signed ID token, else the provider's UserInfo for this sub).
    const rawGroups = claims[oidc.groups_claim];
    const groups = Array.isArray(rawGroups) ? rawGroups.filter((g): g is string => typeof g === 'string') : typeof rawGroups === 'string' ? [rawGroups] : [];
    const templates = templatesForGroups(oidc, groups);
    const adminsGroup = oidc.admins_group !== undefined && groups.includes(oidc.admins_group) ? oidc.admins_group : undefined;
    if (templates.length === 0 && adminsGroup === undefined) {
      await deps.runtime.audit.append({ actor: human, action: 'dashboard.sign_in', outcome: 'denied', reason: `no group of ${oidc.groups_claim} maps to a template (from ${address})` });
      return sendPage(c, {
        title: 'Not allowed',
        body: html`<p>You signed in as <code>${human}</code>, but none of your groups may use this server. Nothing was created.</p><p>Ask an operator to add one of your groups under <code>auth.oidc.groups</code>.</p>`,
        notice: { kind: 'error', text: 'None of your groups gives access to this server.' },
      }, 403);
    }
    // An admin is `oidc:<sub>` to every rule (distinct approvers); the label is only named beside it.
    const person = { sub, human, ...(label !== undefined ? { label } : {}), templates, issuerHash: oidcIssuerHash(oidc.issuer), ...(adminsGroup !== undefined ? { adminsGroup } : {}) };
    const { id: sessionId } = await deps.sessions.create(adminsGroup !== undefined ? oidcHuman(sub) : human, '', person);
    const what = `${adminsGroup !== undefined ? `admin (group ${adminsGroup.slice(0, 100)}), ` : ''}templates ${templates.join(', ').slice(0, 200) || '(none)'}`;
    await deps.runtime.audit.append({ actor: adminsGroup !== undefined ? `admin:${human}` : human, action: 'dashboard.sign_in', outcome: 'ok', reason: `identity provider, ${what} (from ${address})` });
    setCookie(c, cookieName(deps.browserScheme), sessionId, { httpOnly: true, sameSite: 'Strict', secure: deps.browserScheme === 'https', path: '/' });
    // An admin who did not come here to consent lands on the approvals page.
    const next = adminsGroup !== undefined && entry.next === `${BASE}/sign-ins` ? `${BASE}/approvals` : entry.next;
    // A page, not a redirect: this response ends a navigation that began on the provider's site,
    // and Chromium would not send the new SameSite=Strict cookie along a redirect from it. The
    // refresh (or the link) is a navigation of our own page.
    return c.html(
      html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${next}"><title>Signed in · agent-secret-store</title></head><body><main><p>Signed in as <code>${human}</code>${adminsGroup !== undefined ? ' (admin)' : ''}. <a href="${next}">Continue</a></p></main></body></html>`.text,
      200,
    );
  });
}

/** The client secret: `client_secret` (usually `${ENV}`), or the first line of `client_secret_file`. Never logged. */
function clientSecret(deps: DashboardDeps, oidc: OidcConfig): string {
  if (oidc.client_secret !== undefined) return oidc.client_secret;
  return readFileSync(deps.runtime.settings.loaded.resolvePath(oidc.client_secret_file!), 'utf8').split(/\r?\n/)[0]!.trim();
}

/** The "Sign in with <provider>" link for the sign-in page, or nothing. */
export function oidcButton(deps: DashboardDeps, next: string): ReturnType<typeof html> {
  const oidc = deps.settings().config.auth.oidc;
  if (!oidc) return html``;
  const target = next.startsWith('/dashboard/oauth/consent/') ? `${OIDC_START_PATH}?next=${encodeURIComponent(next)}` : OIDC_START_PATH;
  return html`<div class="card sign-in sign-in-oidc"><p>Allowing an app to use this server for you?</p><p><a class="button primary" href="${target}">Sign in with ${providerName(oidc)}</a></p><p class="help">Your groups decide what you may allow${oidc.admins_group !== undefined ? ', and whether you are an admin here' : '. This does not sign you in as an admin'}.</p></div>`;
}
