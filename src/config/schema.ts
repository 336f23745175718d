import { z } from 'zod';
import { DashboardSchema } from './dashboard-schema.js';
import { NotificationsSchema } from './notifications-schema.js';
import { UseConfigSchema } from './use-schema.js';
import { PgConnectionShape } from '../shared/pg/config.js';
import { AuthSchema } from './auth-schema.js';
import { ObservabilitySchema } from './observability-schema.js';

/**
 * The YAML configuration's top level. The `backend` block is checked here only for its
 * `type`; each adapter owns the schema of its own block (validated apart from connecting,
 * as external-secrets does), and scopes are checked by the one scope parser in
 * `src/policy/`. `src/server/settings.ts` runs all three and reports every problem with its
 * YAML path.
 */

/** Durations as written in YAML: `30s`, `15m`, `1h`, `24h`, `7d`. Converted by policy's parseTtl. */
export const DurationSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,6}(s|m|h|d)$/, 'must be a duration such as 30s, 15m, 1h, 24h or 7d');

export const TierEffectSchema = z.enum(['auto', 'approval', 'deny']);

/** `critical: approval` or `critical: { effect: approval, approvers: 2, delay: 5m }`. */
export const TierRuleSchema = z.union([
  TierEffectSchema,
  z
    .object({
      effect: TierEffectSchema,
      approvers: z.number().int().min(1).max(10).default(1),
      delay: DurationSchema.optional(),
    })
    .strict(),
]);

const TierNameSchema = z.enum(['standard', 'sensitive', 'critical']);

export const TierRulesSchema = z
  .object({ standard: TierRuleSchema.optional(), sensitive: TierRuleSchema.optional(), critical: TierRuleSchema.optional() })
  .strict();

export const NamespaceRuleSchema = z
  .object({
    pattern: z.string().min(1),
    default_tier: TierNameSchema.optional(),
    tiers: TierRulesSchema.optional(),
  })
  .strict();

export const PolicySchema = z
  .object({
    default_tier: TierNameSchema.default('standard'),
    tiers: z
      .object({ standard: TierRuleSchema.default('auto'), sensitive: TierRuleSchema.default('auto'), critical: TierRuleSchema.default('approval') })
      .strict()
      .default({ standard: 'auto', sensitive: 'auto', critical: 'approval' }),
    namespaces: z.array(NamespaceRuleSchema).default([]),
  })
  .strict();

export const TOOL_NAMES = [
  'get_secret',
  'set_secret',
  'list_secrets',
  'list_namespaces',
  'delete_secret',
  'rotate_secret',
  'request_token',
  'get_approval_status',
  // Use without reveal (src/use/): registered only when `use.commands` / `use.http` exist.
  'run_with_secrets',
  'http_request',
] as const;

/** Streamable HTTP resumability (SEP-1699): reconnect delay and the per-session replay buffer's bounds. */
export const ResumeConfigSchema = z
  .object({
    retry: DurationSchema.default('1s'),
    max_events: z.number().int().min(16).max(100_000).default(256),
    max_bytes: z.number().int().min(64 * 1024).max(64 * 1024 * 1024).default(1024 * 1024),
    /** How long a POST stream's priming event may wait for a quick answer to leave in the same write (0: at once). */
    priming_hold_ms: z.number().int().min(0).max(5_000).default(250),
  })
  .strict();

/**
 * `serve --http`: one port for SSE, streamable HTTP and the REST API. Fail-closed defaults:
 * loopback bind, no foreign Origin, 1 MiB bodies, a per-agent rate limit. A non-loopback
 * `host` is refused unless `allowed_origins` is set; TLS is on when `tls` names a cert and key.
 */
export const HttpConfigSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(8787),
    /** Exact origins (`https://app.example.com`) whose browsers may call; the server's own origin is always allowed. */
    allowed_origins: z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'must be an origin such as https://app.example.com (no path)')).default([]),
    /** Extra Host header values (`name` or `name:port`) besides loopback and the bind address. */
    allowed_hosts: z.array(z.string().regex(/^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/, 'must be a host name, optionally with :port')).default([]),
    /** Largest request body in bytes (413 beyond). */
    body_limit: z.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
    rate_limit: z
      .object({ per_minute: z.number().int().min(1).default(1200), burst: z.number().int().min(1).default(200) })
      .strict()
      .default({ per_minute: 1200, burst: 200 }),
    /** PEM files; relative paths resolve against the config file's folder. */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).strict().optional(),
    /** plain HTTP on a non-loopback address only when set (a TLS proxy in front that has no dashboard.public_url); also ASS_HTTP_PLAINTEXT=1. */
    plaintext: z.boolean().default(false),
    /**
     * Open connections: in all and per client address (beyond, the oldest connection serving no
     * request is closed), the part of `max` kept for requests that carry a credential (others
     * get 503 once it is reached), and how long a client may take to send headers / a request.
     */
    connections: z
      .object({
        max: z.number().int().min(8).max(100_000).default(1024),
        max_per_address: z.number().int().min(4).max(100_000).default(256),
        reserve: z.number().int().min(1).max(10_000).default(64),
        headers_timeout: DurationSchema.default('10s'),
        request_timeout: DurationSchema.default('30s'),
      })
      .strict()
      .refine((c) => c.reserve < c.max, { message: 'reserve must be smaller than max', path: ['reserve'] })
      .default({ max: 1024, max_per_address: 256, reserve: 64, headers_timeout: '10s', request_timeout: '30s' }),
    /** Streamable HTTP sessions: how many one agent may hold, and how long one may sit idle. */
    sessions: z
      .object({ max_per_agent: z.number().int().min(1).max(10_000).default(64), idle_timeout: DurationSchema.default('30m') })
      .strict()
      .default({ max_per_agent: 64, idle_timeout: '30m' }),
    /** A `: keepalive` comment this often on every long-lived SSE stream (/sse, /mcp GET and POST streams). */
    keepalive: DurationSchema.default('15s'),
    /** Streamable HTTP resumability: the `retry` a client waits before reconnecting, and each session's replay buffer. */
    resume: ResumeConfigSchema.default({ retry: '1s', max_events: 256, max_bytes: 1024 * 1024, priming_hold_ms: 250 }),
  })
  .strict();

/** sha256 of a key, lowercase hex. Keys themselves never appear in config. */
const KeyHashSchema = z.string().regex(/^[0-9a-f]{64}$/, 'must be the sha256 hex of the key (64 hex digits); `agents add` writes it');

export const AgentSchema = z
  .object({
    id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 characters of letters, digits, _ . -'),
    key_sha256: KeyHashSchema,
    description: z.string().max(200).optional(),
    grants: z.array(z.string()).default([]),
    deny: z.array(z.string()).default([]),
    /** Tools registered for this agent; all eight when absent. */
    tools: z.array(z.enum(TOOL_NAMES)).optional(),
    limits: z.object({ max_token_ttl: DurationSchema.default('24h') }).strict().default({ max_token_ttl: '24h' }),
  })
  .strict();

export const AdminSchema = z
  .object({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/), key_sha256: KeyHashSchema })
  .strict();

/**
 * Where approvals, grants, tokens, revocations and rate limits live: `file` (default, embedded,
 * in data_dir) or `postgres`, shared by every replica (the audit log then goes there too).
 */
export const StateConfigSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('file') }).strict(),
  z.object({ type: z.literal('postgres'), ...PgConnectionShape }).strict(),
]);

export const ConfigSchema = z
  .object({
    version: z.literal(1, { error: 'must be 1 (the only config format so far)' }),
    /** Approvals, grants, token state and signing key. Relative paths resolve against the config file's folder. */
    data_dir: z.string().default('.'),
    backend: z.object({ type: z.string() }).passthrough(),
    state: StateConfigSchema.default({ type: 'file' }),
    server: z
      .object({
        name: z.string().default('agent-secret-store'),
        read_only: z.boolean().default(false),
        /** Where a human approves, shown in approval messages; the CLI command is always shown. */
        approval_url: z.url().optional(),
        log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('info'),
        /** How often a remote backend found unusable at start-up is checked again (backend-watch.ts). */
        backend_recheck: z.string().default('30s'),
        /** Per-agent tool calls over stdio (serve --http has http.rate_limit). */
        rate_limit: z
          .object({ per_minute: z.number().int().min(1).default(1200), burst: z.number().int().min(1).default(200) })
          .strict()
          .default({ per_minute: 1200, burst: 200 }),
      })
      .strict()
      .default({ name: 'agent-secret-store', read_only: false, log_level: 'info', backend_recheck: '30s', rate_limit: { per_minute: 1200, burst: 200 } }),
    policy: PolicySchema.default({
      default_tier: 'standard',
      tiers: { standard: 'auto', sensitive: 'auto', critical: 'approval' },
      namespaces: [],
    }),
    approvals: z
      .object({
        pending_ttl: DurationSchema.default('15m'),
        grant_ttl: DurationSchema.default('1h'),
        deny_cooldown: z.union([DurationSchema, z.literal('0'), z.literal(0)]).default('10m'),
        /** Open requests one agent may have waiting for a human (TOO_MANY_PENDING beyond). */
        max_pending_per_agent: z.number().int().min(1).max(1000).default(10),
        /** Their total stored size per agent, in bytes. */
        max_pending_bytes_per_agent: z.number().int().min(4096).max(16 * 1024 * 1024).default(65536),
      })
      .strict()
      .default({ pending_ttl: '15m', grant_ttl: '1h', deny_cooldown: '10m', max_pending_per_agent: 10, max_pending_bytes_per_agent: 65536 }),
    tokens: z
      .object({
        max_ttl: DurationSchema.default('24h'),
        default_ttl: DurationSchema.default('1h'),
        issuer: z.string().default('agent-secret-store'),
        /** Live (unexpired, unrevoked) tokens one agent may hold (TOO_MANY_TOKENS beyond). */
        max_active_per_agent: z.number().int().min(1).max(100_000).default(200),
      })
      .strict()
      .default({ max_ttl: '24h', default_ttl: '1h', issuer: 'agent-secret-store', max_active_per_agent: 200 }),
    audit: z
      .object({ path: z.string().default('audit.log'), fsync: z.boolean().default(false) })
      .strict()
      .default({ path: 'audit.log', fsync: false }),
    /** Where humans' links point (derived from `serve --http`'s address when absent). */
    dashboard: DashboardSchema.optional(),
    notifications: NotificationsSchema.default({ webhooks: [], max_attempts: 8, timeout: '5s', queue_size: 1000 }),
    /** Optional: `serve --http` uses HttpConfigSchema's defaults when absent. */
    http: HttpConfigSchema.optional(),
    /** Use without reveal: run_with_secrets and http_request exist only when their part is set (use-schema.ts). */
    use: UseConfigSchema.optional(),
    /** Remote client authentication: agent keys and/or OAuth 2.1 sign-in (auth-schema.ts). */
    auth: AuthSchema.default({ agent_keys: true }),
    /** Optional OpenTelemetry traces (observability-schema.ts); off when absent. */
    observability: ObservabilitySchema.optional(),
    admins: z.array(AdminSchema).min(1, 'at least one admin is needed to approve anything; `init` creates one'),
    agents: z.array(AgentSchema).default([]),
  })
  .strict();

export type ToolName = (typeof TOOL_NAMES)[number];
export type Config = z.infer<typeof ConfigSchema>;
export type AgentConfig = z.infer<typeof AgentSchema>;
export type AdminConfig = z.infer<typeof AdminSchema>;
export type TierRuleConfig = z.infer<typeof TierRuleSchema>;
export type HttpConfig = z.infer<typeof HttpConfigSchema>;
export type StateConfig = z.infer<typeof StateConfigSchema>;
