import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { HttpConfigSchema, type HttpConfig } from '../../config/schema.js';
import { parseTtl } from '../../policy/ttl.js';
import { AssError } from '../../shared/errors.js';
import type { ConnectionLimits } from './connection-guard.js';

/** The HTTP surface's settings, resolved from config plus `serve --http --host --port`. */
export interface HttpOptions {
  host: string;
  port: number;
  allowedOrigins: string[];
  allowedHosts: string[];
  bodyLimit: number;
  rateLimit: { perMinute: number; burst: number };
  /** Streamable HTTP sessions per agent (opening one more closes its least recently used) and idle limit. */
  sessions: { maxPerAgent: number; idleMs: number };
  /** Interval of `: keepalive` comments on SSE streams. */
  keepaliveMs: number;
  /** Streamable HTTP resumability: `retry` sent in priming events, and each session's replay bounds. */
  resume: { retryMs: number; maxEvents: number; maxBytes: number };
  tls?: { cert: Buffer; key: Buffer };
  /** Connection caps, the credential reserve and the header/request timeouts. */
  connections: ConnectionLimits;
  /** `dashboard.public_url`'s origin and host (lower case), when it is set: see trustPublicUrl. */
  publicUrl?: { origin: string; host: string };
}

/** True for 127.0.0.0/8, ::1 and `localhost`: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || bare === '::ffff:127.0.0.1') return true;
  return isIP(bare) === 4 && bare.startsWith('127.');
}

/**
 * Resolves options and refuses unsafe ones before anything binds.
 * @throws AssError CONFIG_INVALID for a non-loopback bind without `allowed_origins`, or unreadable TLS files.
 */
export function resolveHttpOptions(config: HttpConfig | undefined, overrides: { host?: string; port?: number } = {}): HttpOptions {
  const http = HttpConfigSchema.parse(config ?? {});
  const host = overrides.host ?? http.host;
  const port = overrides.port ?? http.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AssError('CONFIG_INVALID', `--port must be a whole number from 0 to 65535.`);
  // Security: a server reachable from other machines must say which browser origins it trusts.
  if (!isLoopbackHost(host) && http.allowed_origins.length === 0) {
    throw new AssError(
      'CONFIG_INVALID',
      `Refusing to listen on non-loopback address '${host}' without http.allowed_origins in the config. ` +
        'List the origins allowed to call this server (or bind 127.0.0.1 and put a reverse proxy in front).',
    );
  }
  let tls: HttpOptions['tls'];
  if (http.tls) {
    try {
      tls = { cert: readFileSync(http.tls.cert), key: readFileSync(http.tls.key) };
    } catch (error) {
      throw new AssError('CONFIG_INVALID', `Cannot read http.tls cert or key (${(error as NodeJS.ErrnoException).code ?? 'error'}). Check the paths in the config.`);
    }
  }
  return {
    host,
    port,
    allowedOrigins: http.allowed_origins.map((o) => o.toLowerCase()),
    allowedHosts: http.allowed_hosts.map((h) => h.toLowerCase()),
    bodyLimit: http.body_limit,
    rateLimit: { perMinute: http.rate_limit.per_minute, burst: http.rate_limit.burst },
    sessions: { maxPerAgent: http.sessions.max_per_agent, idleMs: parseTtl(http.sessions.idle_timeout) },
    keepaliveMs: parseTtl(http.keepalive),
    resume: { retryMs: parseTtl(http.resume.retry), maxEvents: http.resume.max_events, maxBytes: http.resume.max_bytes },
    connections: connectionLimits(http.connections),
    ...(tls ? { tls } : {}),
  };
}

/**
 * Behind a TLS-terminating reverse proxy the browser is at `dashboard.public_url`
 * (e.g. https://secrets.example.com/dashboard) while this server listens on plain loopback
 * HTTP: that URL's origin is trusted as the server's own, and its host as a Host the proxy
 * forwards. No other origin or host is added, and a request for the public host must come from
 * exactly the public origin (not its http:// twin, which the Host alone would suggest).
 */
export function trustPublicUrl(options: HttpOptions, publicUrl: string | undefined): HttpOptions {
  if (!publicUrl) return options;
  const url = new URL(publicUrl);
  const origin = url.origin.toLowerCase();
  const host = url.host.toLowerCase();
  return {
    ...options,
    allowedOrigins: options.allowedOrigins.includes(origin) ? options.allowedOrigins : [...options.allowedOrigins, origin],
    allowedHosts: options.allowedHosts.includes(host) ? options.allowedHosts : [...options.allowedHosts, host],
    publicUrl: { origin, host },
  };
}

function connectionLimits(c: HttpConfig['connections']): ConnectionLimits {
  const headersTimeoutMs = parseTtl(c.headers_timeout);
  // Node requires the header timeout not to exceed the request timeout.
  const requestTimeoutMs = Math.max(parseTtl(c.request_timeout), headersTimeoutMs);
  return { max: c.max, maxPerAddress: c.max_per_address, reserve: c.reserve, headersTimeoutMs, requestTimeoutMs };
}
