import type { IncomingMessage, ServerResponse } from 'node:http';
import { baseUrl, type HttpContext } from '../http/context.js';
import { HttpError, readBody, sendJson } from '../http/respond.js';
import { RateLimiter } from '../rate-limit.js';
import { clientAddressOf, limitKey, trustedProxies } from '../http/client-address.js';
import { OAuthError, type OAuthService } from './service.js';

/**
 * The OAuth endpoints on `serve --http`'s port (plain Node handlers, like the rest of our HTTP
 * stack; the SDK's auth router is Express-only):
 * - `GET /.well-known/oauth-protected-resource[/mcp]` (RFC 9728)
 * - `GET /.well-known/oauth-authorization-server` (RFC 8414)
 * - `POST /oauth/register` (RFC 7591), `GET /oauth/authorize`, `POST /oauth/token`, `POST /oauth/revoke` (RFC 7009)
 * The authorize step hands the browser to the dashboard's consent page (`consentPage`).
 */

export const PROTECTED_RESOURCE_PATH = '/.well-known/oauth-protected-resource';
const PATHS = new Set([PROTECTED_RESOURCE_PATH, `${PROTECTED_RESOURCE_PATH}/mcp`, '/.well-known/oauth-authorization-server', '/oauth/register', '/oauth/authorize', '/oauth/token', '/oauth/revoke']);

export function isOAuthPath(path: string): boolean {
  return PATHS.has(path);
}

const BODY_LIMIT = 64 * 1024;

function sendOAuthError(res: ServerResponse, error: OAuthError): void {
  sendJson(res, error.status, { error: error.error, error_description: error.description });
}

async function form(req: IncomingMessage): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new OAuthError(400, 'invalid_request', 'Send the parameters as application/x-www-form-urlencoded.');
  return new URLSearchParams((await readBody(req, BODY_LIMIT)).toString('utf8'));
}

/** Per client address, for the two endpoints anyone may call without credentials (H13-7). */
const ADDRESS_LIMITS = { '/oauth/register': { perMinute: 10, burst: 10 }, '/oauth/authorize': { perMinute: 60, burst: 60 } } as const;
const addressLimiters = new WeakMap<HttpContext, Map<string, RateLimiter>>();

/**
 * Refuses a caller that registers clients or opens sign-ins faster than a person would, so no
 * one fills the registration or pending-sign-in tables and locks everyone else out.
 * Behind a reverse proxy every caller is the proxy's address unless the proxy is listed in
 * `dashboard.trusted_proxies` (client-address.ts, docs/remote-auth.md).
 * @throws OAuthError 429 temporarily_unavailable.
 */
function limitByAddress(ctx: HttpContext, address: string, path: '/oauth/register' | '/oauth/authorize'): void {
  let limiters = addressLimiters.get(ctx);
  if (!limiters) addressLimiters.set(ctx, (limiters = new Map()));
  let limiter = limiters.get(path);
  if (!limiter) limiters.set(path, (limiter = new RateLimiter(ADDRESS_LIMITS[path].perMinute, ADDRESS_LIMITS[path].burst)));
  const verdict = limiter.take(`ip:${limitKey(address)}`);
  if (!verdict.ok) throw new OAuthError(429, 'temporarily_unavailable', `Too many requests from this address; retry in ${verdict.retryAfterS}s.`);
}

const escapeHtml = (s: string): string => s.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`);

export async function handleOAuthRoute(ctx: HttpContext, oauth: OAuthService | null, req: IncomingMessage, res: ServerResponse, url: URL, consentPage: ((id: string) => string) | undefined): Promise<void> {
  const path = url.pathname;
  if (!oauth) throw new HttpError(404, 'ROUTE_NOT_FOUND', 'OAuth sign-in is not enabled on this server (auth.oauth in the config).');
  const origin = baseUrl(ctx, req);
  const expect = (method: string): void => {
    if (req.method !== method) throw new HttpError(405, 'METHOD_NOT_ALLOWED', `${path} takes ${method}.`, { allow: method });
  };
  try {
    const address = clientAddressOf(req.socket.remoteAddress, req.headers['x-forwarded-for'], trustedProxies(ctx.runtime.settings.config.dashboard?.trusted_proxies));
    if (path === '/oauth/register' || path === '/oauth/authorize') limitByAddress(ctx, address, path);
    if (path.startsWith(PROTECTED_RESOURCE_PATH)) {
      expect('GET');
      return sendJson(res, 200, oauth.protectedResourceMetadata(origin), { 'cache-control': 'max-age=300' });
    }
    if (path === '/.well-known/oauth-authorization-server') {
      expect('GET');
      return sendJson(res, 200, oauth.authorizationServerMetadata(origin), { 'cache-control': 'max-age=300' });
    }
    if (path === '/oauth/register') {
      expect('POST');
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, BODY_LIMIT)).toString('utf8'));
      } catch (error) {
        if (error instanceof HttpError) throw error;
        throw new OAuthError(400, 'invalid_client_metadata', 'The registration body must be JSON client metadata.');
      }
      return sendJson(res, 201, await oauth.register(body));
    }
    if (path === '/oauth/token') {
      expect('POST');
      return sendJson(res, 200, await oauth.token(await form(req), origin), { pragma: 'no-cache' });
    }
    if (path === '/oauth/revoke') {
      expect('POST');
      await oauth.revokeToken(await form(req));
      return sendJson(res, 200, {});
    }
    expect('GET');
    if (!consentPage) throw new HttpError(503, 'UNAVAILABLE', 'Sign-in needs the dashboard, which this server does not serve.');
    const begun = await oauth.beginAuthorization(url.searchParams, origin, address);
    const location = 'redirect' in begun ? begun.redirect : consentPage(begun.pending.id);
    res.writeHead(303, { location, 'cache-control': 'no-store' });
    res.end();
  } catch (error) {
    if (!(error instanceof OAuthError)) throw error;
    if (path !== '/oauth/authorize') return sendOAuthError(res, error);
    // Security: a bad client or redirect URI is shown here, never redirected to.
    const text = escapeHtml(error.description);
    res.writeHead(error.status, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': "default-src 'none'", 'cache-control': 'no-store' });
    res.end(`<!doctype html><meta charset="utf-8"><title>Sign-in refused</title><h1>This sign-in request cannot be used</h1><p>${text}</p><p>Error: <code>${escapeHtml(error.error)}</code></p>`);
  }
}
