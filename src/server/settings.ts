import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfigFile, zodProblems, type ConfigProblem, type LoadedConfig } from '../config/load.js';
import type { AgentConfig, Config, TierRuleConfig } from '../config/schema.js';
import { BACKEND_PATH_FIELDS, BackendConfigSchema, type BackendConfig } from '../adapters/registry.js';
import { compileAgent, compilePolicy, parsePathPattern, parseScope, parseTtl, type CompiledAgent, type CompiledPolicy, type TierRuleInput } from '../policy/index.js';
import type { AccessTier } from '../shared/types.js';
import { isAssError } from '../shared/errors.js';

/** An agent as the server uses it: config entry plus compiled scopes and limits in ms. */
export interface AgentSettings {
  config: AgentConfig;
  compiled: CompiledAgent;
  maxTokenTtlMs: number;
  /** Set when a person signed in for this agent (OAuth consent), e.g. `admin:alice`: recorded in every audit record. */
  onBehalfOf?: string;
  /** Set with onBehalfOf: the OAuth grant and when it ends (ms); tokens it asks for carry the id and end no later. */
  oauthGrant?: { id: string; endsAtMs: number };
}

/** Everything `serve` and the CLI need, validated as a whole; paths are absolute. */
export interface Settings {
  loaded: LoadedConfig;
  config: Config;
  backend: BackendConfig;
  policy: CompiledPolicy;
  agents: AgentSettings[];
  dataDir: string;
  auditPath: string;
  /** The key of the audit chain (`<data_dir>/audit.key`, created on first use). */
  auditKeyPath: string;
  /** The state of earlier versions (one file); migrated into `stateDir` on first open. */
  statePath: string;
  /** The embedded state store's directory (one file per record, see src/state/file-store.ts). */
  stateDir: string;
  signingKeyPath: string;
  pendingTtlMs: number;
  grantTtlMs: number;
  /** After a denial, the same request is refused this long (0: off). */
  denyCooldownMs: number;
  tokenMaxTtlMs: number;
  tokenDefaultTtlMs: number;
  /** `server.backend_recheck` in ms. */
  backendRecheckMs: number;
}

function tierRule(rule: TierRuleConfig): TierRuleInput {
  if (typeof rule === 'string') return { effect: rule };
  return { effect: rule.effect, approvers: rule.approvers, ...(rule.delay ? { delayMs: parseTtl(rule.delay) } : {}) };
}

function tierRules(rules: Partial<Record<AccessTier, TierRuleConfig | undefined>>): Partial<Record<AccessTier, TierRuleInput>> {
  const out: Partial<Record<AccessTier, TierRuleInput>> = {};
  for (const [tier, rule] of Object.entries(rules)) if (rule !== undefined) out[tier as AccessTier] = tierRule(rule);
  return out;
}

/** Runs `fn`; an AssError becomes a problem at `path`, anything else is rethrown. */
function check<T>(problems: ConfigProblem[], path: (string | number)[], fn: () => T): T | undefined {
  try {
    return fn();
  } catch (error) {
    if (!isAssError(error)) throw error;
    problems.push({ path, message: error.message });
    return undefined;
  }
}

/**
 * Loads and validates a config file completely: the top level (zod), the backend block
 * (the adapter's own zod schema), every scope (the one scope parser) and the policy. All
 * problems are reported together, each with its YAML path and line. Nothing is connected.
 */
export function loadSettings(file: string, env: Record<string, string | undefined> = process.env): Settings {
  const loaded = loadConfigFile(file, env, rawChecks);
  const { config } = loaded;
  const problems: ConfigProblem[] = [];
  const policy = check(problems, ['policy'], () =>
    compilePolicy({
      defaultTier: config.policy.default_tier,
      tiers: tierRules(config.policy.tiers) as Record<AccessTier, TierRuleInput>,
      namespaces: config.policy.namespaces.map((ns) => ({
        pattern: ns.pattern,
        ...(ns.default_tier ? { default_tier: ns.default_tier } : {}),
        ...(ns.tiers ? { tiers: tierRules(ns.tiers) } : {}),
      })),
    }),
  );
  const keyHashes = new Set<string>();
  [...config.agents.map((a, i) => ({ hash: a.key_sha256, path: ['agents', i, 'key_sha256'] })), ...config.admins.map((a, i) => ({ hash: a.key_sha256, path: ['admins', i, 'key_sha256'] }))].forEach(({ hash, path }) => {
    // Security: one key must never be both an agent's and an admin's.
    if (keyHashes.has(hash)) problems.push({ path, message: 'this key hash is already used by another agent or admin; every key must be distinct' });
    keyHashes.add(hash);
  });
  const seen = new Set<string>();
  config.agents.forEach((agent, i) => {
    if (seen.has(agent.id)) problems.push({ path: ['agents', i, 'id'], message: `agent id '${agent.id}' is used twice` });
    seen.add(agent.id);
  });
  check(problems, ['server', 'backend_recheck'], () => parseTtl(config.server.backend_recheck));
  config.use?.http?.rules.forEach((rule, i) => check(problems, ['use', 'http', 'rules', i, 'namespaces'], () => parsePathPattern(rule.namespaces)));
  // OAuth agent templates use the one scope parser, as agents do (a bad grant fails at start, not at sign-in).
  for (const [name, template] of Object.entries(config.auth.oauth?.templates ?? {})) {
    check(problems, ['auth', 'oauth', 'templates', name], () => compileAgent({ id: name, grants: template.grants, deny: template.deny }));
  }
  config.use?.commands?.allow.forEach((rule, i) =>
    Object.entries(rule.env ?? {}).forEach(([name, patterns]) => patterns.forEach((p, j) => check(problems, ['use', 'commands', 'allow', i, 'env', name, j], () => parsePathPattern(p)))),
  );
  loaded.fail(problems);

  const backend = BackendConfigSchema.parse(config.backend);
  for (const field of BACKEND_PATH_FIELDS[backend.type] ?? []) {
    const record = backend as unknown as Record<string, unknown>;
    if (typeof record[field] === 'string') record[field] = loaded.resolvePath(record[field] as string);
  }
  // PostgreSQL TLS files (backend: postgres, state: postgres) resolve against the config file's folder too.
  for (const block of [backend, config.state] as Array<{ ssl?: Record<string, unknown> }>) {
    for (const field of ['ca_file', 'cert_file', 'key_file']) {
      if (typeof block.ssl?.[field] === 'string') block.ssl[field] = loaded.resolvePath(block.ssl[field] as string);
    }
  }
  // TLS files, like backend paths, resolve against the config file's folder.
  if (config.http?.tls) config.http.tls = { cert: loaded.resolvePath(config.http.tls.cert), key: loaded.resolvePath(config.http.tls.key) };
  const dataDir = loaded.resolvePath(config.data_dir);
  return {
    loaded,
    config,
    backend,
    policy: policy!,
    agents: config.agents.map((agent) => ({
      config: agent,
      compiled: compileAgent({ id: agent.id, grants: agent.grants, deny: agent.deny }),
      maxTokenTtlMs: parseTtl(agent.limits.max_token_ttl),
    })),
    dataDir,
    auditPath: isAbsolute(config.audit.path) ? config.audit.path : resolve(dataDir, config.audit.path),
    auditKeyPath: resolve(dataDir, 'audit.key'),
    statePath: resolve(dataDir, 'state.json'),
    stateDir: resolve(dataDir, 'state'),
    signingKeyPath: resolve(dataDir, 'token-signing.key'),
    pendingTtlMs: parseTtl(config.approvals.pending_ttl),
    grantTtlMs: parseTtl(config.approvals.grant_ttl),
    denyCooldownMs: String(config.approvals.deny_cooldown) === '0' ? 0 : parseTtl(String(config.approvals.deny_cooldown)),
    tokenMaxTtlMs: parseTtl(config.tokens.max_ttl),
    tokenDefaultTtlMs: parseTtl(config.tokens.default_ttl),
    backendRecheckMs: parseTtl(config.server.backend_recheck),
  };
}

/**
 * What the top-level schema cannot check, run on the raw value so every problem is reported
 * in one go: the backend block against its adapter's schema, and every scope.
 */
function rawChecks(raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const root = (raw ?? {}) as { backend?: unknown; agents?: unknown };
  if (root.backend !== undefined) {
    const backend = BackendConfigSchema.safeParse(root.backend);
    if (!backend.success) problems.push(...zodProblems(backend.error as z.ZodError, ['backend'], BackendConfigSchema, root.backend));
  }
  if (Array.isArray(root.agents)) {
    root.agents.forEach((agent: { grants?: unknown; deny?: unknown }, i) => {
      for (const field of ['grants', 'deny'] as const) {
        const list = agent?.[field];
        if (!Array.isArray(list)) continue;
        list.forEach((scope, j) => {
          if (typeof scope === 'string') check(problems, ['agents', i, field, j], () => parseScope(scope));
        });
      }
    });
  }
  return problems;
}
