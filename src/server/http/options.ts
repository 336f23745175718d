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
  resume: { retryMs: number; maxEvents: number; maxBytes: number; primingHoldMs: number };
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
export function resolveHttpOptions(config: HttpConfig | undefined, overrides: { host?: string; port?: number } = {}, env: NodeJS.ProcessEnv = {}): HttpOptions {
  const http = withEnvAllowLists(HttpConfigSchema.parse(config ?? {}), env);
  const host = overrides.host ?? http.host;
  const port = overrides.port ?? http.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new AssError('CONFIG_INVALID', `--port must be a whole number from 0 to 65535.`);
  // Security: a server reachable from other machines must say which browser origins it trusts.
  if (!isLoopbackHost(host) && http.allowed_origins.length === 0) {
    throw new AssError(
      'CONFIG_INVALID',
      `Refusing to listen on non-loopback address '${host}' without http.allowed_origins in the config (or ASS_HTTP_ALLOWED_ORIGINS in the environment). ` +
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
    resume: { retryMs: parseTtl(http.resume.retry), maxEvents: http.resume.max_events, maxBytes: http.resume.max_bytes, primingHoldMs: http.resume.priming_hold_ms },
    connections: connectionLimits(http.connections),
    ...(tls ? { tls } : {}),
  };
}

/** The environment variable that stands for `http.plaintext: true` (the container image sets it). */
export const PLAINTEXT_ENV = 'ASS_HTTP_PLAINTEXT';

/**
 * Security (R-12): agent keys, admin keys and dashboard session cookies cross the listener. On a
 * non-loopback address they must not travel in cleartext: refused unless the server speaks TLS
 * itself (`http.tls`), a TLS proxy is in front (`dashboard.public_url` is https), or the operator
 * says plain HTTP is intended (`http.plaintext: true` or ASS_HTTP_PLAINTEXT=1, e.g. a TLS proxy
 * on a private network) — then `warn` is told.
 * @throws AssError CONFIG_INVALID naming the settings.
 */
export function requireTransportSecurity(options: HttpOptions, config: HttpConfig | undefined, publicUrl: string | undefined, env: NodeJS.ProcessEnv, warn: (message: string) => void): void {
  if (isLoopbackHost(options.host) || options.tls) return;
  if (publicUrl && new URL(publicUrl).protocol === 'https:') return;
  const optIn = HttpConfigSchema.parse(config ?? {}).plaintext ? 'http.plaintext: true' : env[PLAINTEXT_ENV] === '1' ? `${PLAINTEXT_ENV}=1` : null;
  if (!optIn) {
    throw new AssError(
      'CONFIG_INVALID',
      `Refusing to serve plain HTTP on non-loopback address '${options.host}': agent keys, admin keys and dashboard sessions would cross the network in cleartext. ` +
        `Set http.tls (cert and key) in the config, or put a TLS proxy in front and set dashboard.public_url to its https:// URL, ` +
        `or, when a TLS proxy in front is all that reaches this address, opt in with http.plaintext: true (or ${PLAINTEXT_ENV}=1).`,
    );
  }
  warn(`agent-secret-store: WARNING: serving plain HTTP on non-loopback address '${options.host}' (${optIn}): keys cross the network in cleartext unless a TLS proxy in front is the only way in.\n`);
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

/** The environment variables that add to `http.allowed_origins` / `http.allowed_hosts` (comma-separated). */
export const ALLOW_LIST_ENV = { allowed_origins: 'ASS_HTTP_ALLOWED_ORIGINS', allowed_hosts: 'ASS_HTTP_ALLOWED_HOSTS' } as const;

/**
 * Adds the comma-separated origins / hosts of ASS_HTTP_ALLOWED_ORIGINS and ASS_HTTP_ALLOWED_HOSTS
 * to the config's lists, so a container image (whose config a user may not edit) is configured
 * by environment. Each entry passes the same validation as the config's.
 * @throws AssError CONFIG_INVALID naming the variable and the entry it refuses.
 */
export function withEnvAllowLists(http: HttpConfig, env: NodeJS.ProcessEnv): HttpConfig {
  const merged = { ...http };
  for (const field of ['allowed_origins', 'allowed_hosts'] as const) {
    const name = ALLOW_LIST_ENV[field];
    const entries = (env[name] ?? '').split(',').map((e) => e.trim()).filter((e) => e.length > 0);
    if (entries.length === 0) continue;
    const parsed = HttpConfigSchema.safeParse({ ...merged, [field]: [...merged[field], ...entries] });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const bad = typeof issue.path[1] === 'number' ? [...merged[field], ...entries][issue.path[1]] : undefined;
      throw new AssError('CONFIG_INVALID', `${name}: ${bad !== undefined ? `'${bad}' ${issue.message}` : issue.message}.`);
    }
    merged[field] = parsed.data[field];
  }
  return merged;
}
