/**
 * A `pg` pool built from a parsed connection block, with every connection failure turned into
 * one clear `AssError` (`STATE_UNAVAILABLE` for the state store and its audit log,
 * `BACKEND_UNAVAILABLE` for the secret backend). The pool reconnects by itself: when the server
 * comes back, the next call succeeds, without a restart.
 *
 * Security: messages name neither the password nor the server's address (they reach agents);
 * `target()` gives `host:port/db` without credentials, for `doctor` and the human CLI.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { AssError } from '../errors.js';
import type { PgConnectionConfig, PgSslConfig } from './config.js';

export type PgUnavailableCode = 'STATE_UNAVAILABLE' | 'BACKEND_UNAVAILABLE';

export interface PgDatabaseOptions {
  /** The code a connection failure becomes. */
  unavailableCode: PgUnavailableCode;
  /** What this database is for, in messages: 'state store', 'postgres secret backend'. */
  role: string;
  /** Folder that relative TLS file paths resolve against (the config file's). */
  baseDir?: string;
  /** Name shown in pg_stat_activity. */
  applicationName?: string;
  /** Where a start-up warning goes (plain TCP to a non-loopback host by explicit choice); stderr by default. */
  warn?: (message: string) => void;
}

export type PgClient = pg.PoolClient;
export type PgQueryable = Pick<pg.PoolClient, 'query'>;

export interface PgDatabase {
  readonly pool: pg.Pool;
  /** One statement on any pooled connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /**
   * `fn` inside BEGIN … COMMIT on one connection; ROLLBACK when it throws. A connection that
   * failed mid-transaction is discarded, not returned to the pool.
   */
  transaction<T>(fn: (client: PgClient) => Promise<T>): Promise<T>;
  /** Runs `fn` with one connection held (LISTEN, session-level work); released afterwards. */
  withClient<T>(fn: (client: PgClient) => Promise<T>): Promise<T>;
  /** `host:port/database`, without user or password. */
  target(): string;
  /** Maps any error from this database to an AssError (connection failures → unavailable). */
  mapError(error: unknown): unknown;
  close(): Promise<void>;
}

/** Node socket errors that mean "cannot talk to the server". */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED']);

/** SQLSTATEs that mean the server is not serving: connection exceptions, shutdown, overload, auth. */
function unavailableSqlState(code: string): string | undefined {
  if (code.startsWith('08')) return 'the connection failed';
  if (code === '57P01' || code === '57P02') return 'the server is shutting down';
  if (code === '57P03') return 'the server is starting up or in recovery';
  if (code === '53300') return 'the server has too many connections';
  if (code === '53100' || code === '53200') return 'the server is out of resources';
  if (code === '57014') return 'a statement timed out (statement_timeout_ms)';
  if (code === '28P01' || code === '28000') return 'authentication failed (check the user and password in the URL)';
  if (code === '3D000') return 'the database does not exist';
  if (code === '25006') return 'the server is read-only (a standby?)';
  return undefined;
}

/** Why `error` means the database is unreachable, or undefined when it is an ordinary SQL error. */
export function pgUnavailableReason(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return code === 'ECONNREFUSED' ? 'connection refused' : `network error (${code})`;
    const reason = unavailableSqlState(code);
    if (reason) return reason;
  }
  if (typeof message === 'string') {
    if (/timeout exceeded when trying to connect|Connection terminated due to connection timeout/i.test(message)) return 'connecting timed out (connect_timeout_ms)';
    if (/Query read timeout/i.test(message)) return 'the server did not answer in time';
    if (/Connection terminated|not queryable|Client was closed|connection error|server closed the connection|ended by the server/i.test(message)) {
      return 'the connection was lost';
    }
    if (/The server does not support SSL connections/i.test(message)) return `the server does not support TLS (ssl.mode). ${TLS_SETTING_HINT}`;
    if (/self[- ]signed certificate|unable to verify|certificate|Hostname\/IP does not match/i.test(message)) return `the server certificate was refused (ssl). ${TLS_SETTING_HINT}`;
  }
  const cause = (error as { cause?: unknown }).cause;
  return cause && cause !== error ? pgUnavailableReason(cause) : undefined;
}

/**
 * Whether `error` is TLS being refused (no TLS on the server, or a certificate that does not
 * verify): a configuration problem that will not go away by retrying, so start-up stops on it.
 */
export function pgTlsRefused(error: unknown): boolean {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { message } = e as { message?: unknown };
    if (typeof message === 'string' && /The server does not support SSL connections|self[- ]signed certificate|unable to verify|certificate|Hostname\/IP does not match/i.test(message) && !(e instanceof AssError)) return true;
  }
  return false;
}

/** The TLS options `pg` takes for an `ssl` block. */
export function pgSslOptions(ssl: PgSslConfig | undefined, baseDir = process.cwd()): false | ConnectionOptions | undefined {
  if (!ssl) return undefined;
  if (ssl.mode === 'disable') return false;
  const read = (file: string, what: string) => {
    const full = path.resolve(baseDir, file);
    try {
      return readFileSync(full, 'utf8');
    } catch (error) {
      throw new AssError('CONFIG_INVALID', `Cannot read the PostgreSQL TLS ${what} ${full}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`);
    }
  };
  const options: ConnectionOptions = { rejectUnauthorized: ssl.mode !== 'require' };
  if (ssl.ca_file) options.ca = read(ssl.ca_file, 'CA file');
  if (ssl.cert_file && ssl.key_file) {
    options.cert = read(ssl.cert_file, 'certificate');
    options.key = read(ssl.key_file, 'key');
  }
  // verify-ca: the chain is checked, the host name is not (as libpq's sslmode=verify-ca).
  if (ssl.mode === 'verify-ca') options.checkServerIdentity = () => undefined;
  return options;
}

/** Names the setting that decides TLS, in every TLS failure (a human fixes it in the config). */
const TLS_SETTING_HINT =
  "Set `ssl: { mode: verify-full, ca_file: <the server's CA> }` (or `mode: require`) on this PostgreSQL block; `ssl: { mode: disable }` sends the password in cleartext and is for a trusted network only";

/** 127.0.0.0/8, ::1 and their IPv4-mapped form: plain TCP there never leaves the machine. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');

/**
 * The host `pg` will connect to for this URL: `?host=` wins (a unix socket folder is written
 * there), then the URL's host, then PGHOST, then localhost, as node-postgres resolves it.
 */
export function pgUrlHost(url: string): string {
  const parsed = new URL(url);
  const fromQuery = parsed.searchParams.get('host');
  if (fromQuery) return fromQuery;
  const host = decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1');
  return host || process.env.PGHOST || 'localhost';
}

/** Whether plain TCP to `host` stays on this machine: localhost, 127.0.0.0/8, ::1, or a unix socket. */
export function isLoopbackHost(host: string): boolean {
  if (host.startsWith('/')) return true;
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

/** Whether the URL itself says how to do TLS (`sslmode=…`, `ssl=…`): then the URL decides, as libpq does. */
function urlDecidesTls(url: string): boolean {
  const params = new URL(url).searchParams;
  return params.has('sslmode') || params.has('ssl');
}

export interface PgTlsDecision {
  /** What `pg` gets as `ssl` (undefined: the URL's own parameters, or plain TCP on loopback). */
  ssl: false | ConnectionOptions | undefined;
  /** Why: 'ssl block', 'url', 'loopback', 'default verify-full'. */
  source: 'ssl block' | 'url' | 'loopback' | 'default verify-full';
  /** Set when the connection is knowingly plain TCP to another machine (logged at start-up). */
  warning?: string;
}

/**
 * Decides TLS for a connection block (security review H10-1: without this, a config with no
 * `ssl` block sent the password in cleartext to whoever answered on the network):
 * - an `ssl` block decides (`disable` to a non-loopback host is allowed, with a warning);
 * - else `sslmode`/`ssl` in the URL decides (pg applies it; `sslmode=disable` warns likewise);
 * - else a loopback host (localhost, 127.0.0.0/8, ::1, unix socket) stays plain;
 * - else verify-full with the system's CA roots: a server without TLS, or with a certificate
 *   that does not verify, is refused with an error naming the `ssl` setting.
 */
export function pgTlsFor(config: Pick<PgConnectionConfig, 'url' | 'ssl'>, baseDir = process.cwd()): PgTlsDecision {
  const host = pgUrlHost(config.url);
  const remote = !isLoopbackHost(host);
  const plainWarning = `PostgreSQL at ${pgTarget(config.url)} is reached WITHOUT TLS (ssl mode disable): its password and every row cross the network in cleartext. Use this only on a trusted network; prefer ssl: { mode: verify-full, ca_file }.`;
  if (config.ssl) {
    const ssl = pgSslOptions(config.ssl, baseDir);
    return { ssl, source: 'ssl block', ...(remote && ssl === false ? { warning: plainWarning } : {}) };
  }
  if (urlDecidesTls(config.url)) {
    const params = new URL(config.url).searchParams;
    const plain = params.get('sslmode') === 'disable' || /^(0|false|no|off)$/i.test(params.get('ssl') ?? 'x');
    return { ssl: undefined, source: 'url', ...(remote && plain ? { warning: plainWarning } : {}) };
  }
  if (!remote) return { ssl: undefined, source: 'loopback' };
  return { ssl: { rejectUnauthorized: true }, source: 'default verify-full' };
}

/** Targets already warned about in this process (a CLI or a dashboard opens several pools). */
const warnedPlain = new Set<string>();

/** `host:port/db` of a URL, never its credentials. */
export function pgTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '5432'}${parsed.pathname}`;
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * With an explicit `ssl` block the URL's own `sslmode`/`sslrootcert`/… are dropped, so exactly
 * one place decides TLS (`pg` would otherwise let the URL's parameters win silently).
 */
function connectionString(config: PgConnectionConfig): string {
  if (!config.ssl) return config.url;
  const url = new URL(config.url);
  for (const name of ['sslmode', 'ssl', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl']) url.searchParams.delete(name);
  return url.toString();
}

/**
 * `pg` is loaded on the first pool, not when this module is imported: every server imports this
 * module (the state store, the audit log and `doctor` can all use PostgreSQL), but loading `pg`
 * costs a file-backend stdio server ~150 ms of start-up CPU (on Node 20 its runtime check also
 * pulls in undici). Synchronous, so `createPgDatabase` stays synchronous for its callers.
 */
let pgModule: typeof pg | undefined;
// Named `require`, so that the scan of dist/ for run-time imports (test/packaging) sees `require('pg')`.
const require = createRequire(import.meta.url);
function loadPg(): typeof pg {
  pgModule ??= require('pg') as typeof pg;
  return pgModule;
}

export function createPgDatabase(config: PgConnectionConfig, options: PgDatabaseOptions): PgDatabase {
  const tls = pgTlsFor(config, options.baseDir);
  if (tls.warning && !warnedPlain.has(config.url)) {
    warnedPlain.add(config.url);
    (options.warn ?? ((m: string) => process.stderr.write(`agent-secret-store: warning: ${m}\n`)))(tls.warning);
  }
  const pool = new (loadPg().Pool)({
    connectionString: connectionString(config),
    ssl: tls.ssl,
    max: config.pool_max,
    connectionTimeoutMillis: config.connect_timeout_ms,
    idleTimeoutMillis: 30_000,
    statement_timeout: config.statement_timeout_ms,
    // Client-side bound too, for a server that stops answering without closing the socket.
    query_timeout: config.statement_timeout_ms + 5000,
    application_name: options.applicationName ?? 'agent-secret-store',
  });
  // An idle connection dropped by a server restart emits 'error' on the pool; unhandled it would
  // crash the process. The pool discards that connection and opens a new one on the next call.
  pool.on('error', () => undefined);

  const target = pgTarget(config.url);
  const mapError = (error: unknown): unknown => {
    if (error instanceof AssError) return error;
    const reason = pgUnavailableReason(error);
    if (reason) {
      return new AssError(options.unavailableCode, `The ${options.role} (PostgreSQL) is unavailable: ${reason}. Retry shortly; nothing was changed by this call unless it says otherwise.`, {}, { cause: error });
    }
    return error;
  };

  const withClient = async <T>(fn: (client: PgClient) => Promise<T>): Promise<T> => {
    let client: PgClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw mapError(error);
    }
    let broken: unknown;
    try {
      return await fn(client);
    } catch (error) {
      if (pgUnavailableReason(error)) broken = error;
      throw mapError(error);
    } finally {
      // A connection that failed is destroyed rather than reused.
      client.release(broken instanceof Error ? broken : broken ? true : undefined);
    }
  };

  return {
    pool,
    async query(text, values) {
      try {
        return await pool.query(text, values);
      } catch (error) {
        throw mapError(error);
      }
    },
    transaction: (fn) =>
      withClient(async (client) => {
        await client.query('BEGIN');
        try {
          const result = await fn(client);
          await client.query('COMMIT');
          return result;
        } catch (error) {
          // A broken connection cannot roll back; the server aborts the transaction itself.
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    withClient,
    target: () => target,
    mapError,
    async close() {
      await pool.end();
    },
  };
}
