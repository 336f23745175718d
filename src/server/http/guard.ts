import type { IncomingMessage } from 'node:http';
import { HttpError } from './respond.js';
import { isLoopbackHost, type HttpOptions } from './options.js';

/** Query parameters that look like a credential: refused so no client learns to put a key in a URL. */
const CREDENTIAL_PARAMS = ['x-agent-key', 'agent_key', 'agentkey', 'api_key', 'apikey', 'key', 'token', 'access_token', 'authorization'];

function hostname(hostHeader: string): string {
  const h = hostHeader.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * DNS-rebinding and cross-site defences, checked before routing (the SDK's own checks are off
 * by default, so they are done here for every path):
 * - Host must be present and be loopback, the bind address, or listed in `allowed_hosts` (else 403; missing 400).
 * - Origin, when present, must be the server's own origin or listed in `allowed_origins`;
 *   `null` and foreign origins get 403.
 * - A credential in the query string gets 400, whatever the path.
 */
export function checkRequest(req: IncomingMessage, url: URL, options: HttpOptions, scheme: 'http' | 'https'): void {
  const host = req.headers.host;
  if (!host) throw new HttpError(400, 'INVALID_ARGUMENT', 'The Host header is required.');
  const name = hostname(host);
  const allowedHost =
    isLoopbackHost(name) || name === options.host.toLowerCase() || options.allowedHosts.includes(host.toLowerCase()) || options.allowedHosts.includes(name);
  // Security: a foreign Host on a loopback server is the mark of DNS rebinding.
  if (!allowedHost) throw new HttpError(403, 'FORBIDDEN_HOST', 'This Host is not allowed. Add it to http.allowed_hosts if it is yours.');
  const origin = req.headers.origin;
  if (origin !== undefined) {
    const lower = origin.toLowerCase();
    // Through the public host (a TLS-terminating proxy), only the public origin is ours.
    const own = options.publicUrl?.host === host.toLowerCase() ? options.publicUrl.origin : `${scheme}://${host.toLowerCase()}`;
    // Security: `null` is what sandboxed frames and file:// pages send; never trust it.
    if (lower === 'null' || (lower !== own && !options.allowedOrigins.includes(lower))) {
      throw new HttpError(403, 'FORBIDDEN_ORIGIN', 'This Origin is not allowed. Add it to http.allowed_origins if it is yours.');
    }
  }
  for (const name of url.searchParams.keys()) {
    if (CREDENTIAL_PARAMS.includes(name.toLowerCase())) {
      throw new HttpError(400, 'INVALID_ARGUMENT', 'Credentials are never accepted in the query string. Send the x-agent-key header (MCP) or Authorization: Bearer (REST).');
    }
  }
}
