import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { SecretBackend } from '../adapters/backend.js';
import { dropReadCache, readCacheFigures } from '../adapters/cache/read-cache.js';
import type { Approvals } from '../approvals/approvals.js';
import type { StateStore } from '../state/store.js';
import type { Tokens } from '../approvals/tokens.js';
import type { AuditEvent, AuditLog } from '../audit/audit-log.js';
import {
  allowsNamespaceListing, checkMetadata, effectiveTier, evaluate, formatTtl, isValidPath, namespaceDefaultTier, parseScope, parseTtl, scopeCouldMatchIn,
  scopeCovers, scopeMatches, strictestApprovalRule, validateNamespace, validatePath, type Decision, type Scope,
} from '../policy/index.js';
import type { ToolName } from '../config/schema.js';
import { scopesDigest } from '../approvals/limits.js';
import { tokenRequestScopes } from './token-scopes.js';
import { visibleNamespaces } from './namespace-visibility.js';
import { Access, restrictionScopes, toolAllowed, WRITING_TOOLS, type EarlyPass, type TokenRestriction } from './access.js';
import { tokenTierApproval } from './token-tier-approval.js';
import { AssError, isAssError } from '../shared/errors.js';
import { ACCESS_TIERS, MAX_VALUE_BYTES, type AccessTier, type Action, type Clock, type SecretMetadata, type SecretType } from '../shared/types.js';
import type { AgentSettings, Settings } from './settings.js';
import { createLinks, type Links } from './links.js';
import { approvalRequiredMessage } from './human-hints.js';
import { tracedAccess, tracedBackend } from './tracing/pipeline.js';
import type { PipelineTracer } from './tracing/tracing.js';
import type { SecretReference } from '../use/reference.js';
import { humanAuthMessage, type ApprovalStatusResponse, type GetSecretResult, type ListNamespacesResponse, type ListSecretsResult, type HumanAuthResponse, type RequestTokenResponse, type SetSecretResult } from './responses.js';

/** The person an agent acts for during one call (OAuth sign-in), for its audit records. */
const onBehalfOf = new AsyncLocalStorage<string | undefined>();

export interface ServiceDeps {
  /** The settings in force (a getter in a runtime: they follow the config file). */
  readonly settings: Settings;
  /** Reloads the config if its file changed; returns the settings in force. */
  refreshSettings?: () => Settings;
  backend: SecretBackend;
  approvals: Approvals;
  tokens: Tokens;
  audit: AuditLog;
  state: StateStore;
  clock: Clock;
  logger: Logger;
  /** Deep links and CLI hints; derived from the settings when absent. */
  links?: Links;
  /** OpenTelemetry spans of the steps, when `observability.tracing` is on (tracing/). */
  tracer?: PipelineTracer | null;
}

export type { TokenRestriction } from './access.js';

/** Who uses secrets without reading them: the two MCP tools (also REST) and the `run` / `inject` commands. */
export type UseTool = 'run_with_secrets' | 'http_request' | 'run' | 'inject';

/** What a use-without-reveal path gets inside the pipeline (SecretService.withUse). */
export interface UseSession {
  /**
   * Decides `use` on every reference (tiers, approvals, denies, the token), audits each allowed
   * one with `how` (the command or destination, never a value), and returns the values by
   * reference text. Throws (audited) at the first refusal or approval needed.
   */
  resolve(references: SecretReference[], how: string): Promise<Map<string, string>>;
  /**
   * Audits a refusal made before any secret was resolved (a command outside the allow-list, a
   * destination no rule allows) as `denied` once per secret, with how, then throws `error`.
   */
  refuse(references: SecretReference[], how: string, error: AssError): Promise<never>;
  /** Audits how the use ended, once per secret (outcome `ok` or `error`, `result` in words). */
  finished(references: SecretReference[], how: string, ok: boolean, result: string): Promise<void>;
}

/** Session agents found gone from the config at their call (see currentAgent). */
const removedFromConfig = new WeakSet<AgentSettings>();

/** Errors already written to the audit log by the step that raised them. */
const audited = new WeakSet<object>();
const CAS_ATTEMPTS = 100;

/**
 * The one pipeline every transport calls: authenticate (caller resolved by the transport) →
 * validate → policy → approvals → backend → audit. Tools and REST handlers are thin shells
 * over these methods. Audit records are written before a value is returned or a write is
 * made, so a failed audit refuses the request (fail closed).
 */
export class SecretService {
  private readonly access: Pick<Access, 'decide' | 'check'>;
  /** The backend's data calls, in spans when tracing is on (the backend itself stays deps.backend). */
  private readonly backend: Pick<SecretBackend, 'get' | 'put' | 'list' | 'listNamespaces'>;
  private readonly links: Links;
  private revocationsSeen = -1;

  /** The validated settings (the use-without-reveal tools read their config section). */
  get settings(): Settings {
    return this.deps.settings;
  }

  constructor(private readonly deps: ServiceDeps) {
    const access = new Access(() => this.deps.settings, deps.approvals, deps.clock);
    this.access = deps.tracer ? tracedAccess(access, deps.tracer) : access;
    this.backend = deps.tracer ? tracedBackend(deps.backend, deps.tracer) : deps.backend;
    this.links = deps.links ?? createLinks(deps.settings);
  }

  /**
   * The agent as the config has it now, for a session that authenticated earlier: a grant
   * changed since counts at the next call. An agent that left the config or was given another
   * key comes back marked, and every call of it is refused (security: a session lives only as
   * long as the key it authenticated with).
   */
  currentAgent(agent: AgentSettings): AgentSettings {
    const settings = this.deps.refreshSettings?.() ?? this.deps.settings;
    const now = settings.agents.find((a) => a.config.id === agent.config.id);
    if (!now || now.config.key_sha256 !== agent.config.key_sha256) {
      // Refused in run(), after the revocation check (a revoked agent hears that it was revoked).
      const gone = { ...agent };
      removedFromConfig.add(gone);
      return gone;
    }
    return now;
  }

  async getSecret(agent: AgentSettings, input: { namespace: string; key: string; reason?: string }, token?: TokenRestriction): Promise<GetSecretResult> {
    return this.run(agent, 'get_secret', input, async (started) => {
      const { namespace, key } = validatePath(input.namespace, input.key);
      // Security: refuse what needs no secret to refuse before reading anything, so an agent
      // without a grant causes no backend traffic and learns nothing, not even what exists.
      const pass = await this.passEarly(agent, 'get_secret', 'read', namespace, key, started, token);
      const record = await this.backend.get(namespace, key);
      const decision = await this.access.decide(agent, 'read', namespace, key, record?.access_tier ?? null, token, pass);
      if (decision.effect === 'allow' && !record) {
        throw new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}'. Use list_secrets on '${namespace}' to see what exists.`);
      }
      await this.gate(agent, 'get_secret', 'read', namespace, key, decision, started, token, input.reason);
      const r = record!;
      // decision.tier is the secret's effective tier, found by the decision that served it.
      return { value: r.value, secret_type: r.secret_type, access_tier: decision.tier, metadata: r.metadata, version: r.version, id: r.id, created_at: r.created_at, updated_at: r.updated_at };
    });
  }

  async setSecret(
    agent: AgentSettings,
    input: { namespace: string; key: string; value: string; secret_type?: SecretType; access_tier?: AccessTier; metadata?: SecretMetadata; expected_version?: number },
    token?: TokenRestriction,
  ): Promise<SetSecretResult> {
    return this.run(agent, 'set_secret', input, async (started) => {
      const { namespace, key } = validatePath(input.namespace, input.key);
      if (Buffer.byteLength(input.value, 'utf8') > MAX_VALUE_BYTES) {
        throw new AssError('VALUE_TOO_LARGE', `The value is ${Buffer.byteLength(input.value, 'utf8')} bytes; the limit is ${MAX_VALUE_BYTES} bytes on every backend.`);
      }
      checkMetadata(input.metadata);
      const pass = await this.passEarly(agent, 'set_secret', 'write', namespace, key, started, token);
      for (let attempt = 1; ; attempt++) {
        const existing = await this.backend.get(namespace, key);
        const policy = this.deps.settings.policy;
        // The floor: the secret's tier, or for a new secret its namespace's default tier.
        const floor = existing ? effectiveTier(policy, namespace, existing.access_tier) : namespaceDefaultTier(policy, namespace);
        const tier = input.access_tier ?? floor;
        // Security: an agent may raise a tier but never go below the floor (that would slip past approval).
        if (rank(tier) < rank(floor)) {
          const what = existing ? `'${namespace}/${key}' is ${floor}; an agent cannot lower its access tier to ${tier}` : `new secrets in '${namespace}' are at least ${floor}; an agent cannot set access tier ${tier}`;
          throw new AssError('INVALID_ARGUMENT', `${what}. Omit access_tier to use ${floor}, or ask a human.`);
        }
        const decision = await this.access.decide(agent, 'write', namespace, key, tier, token, pass);
        // A retry after a conflict is audited again only if the decision changed.
        if (attempt === 1 || decision.effect !== 'allow') await this.gate(agent, 'set_secret', 'write', namespace, key, decision, started, token);
        // The caller's own check-and-set (REST `expected_version`), decided only after access was
        // granted so that nobody learns a version they may not write.
        const current = existing?.version ?? 0;
        const expected = input.expected_version;
        if (expected !== undefined && expected !== current) throw versionConflict(namespace, key, expected, current);
        try {
          const stored = await this.backend.put(
            { namespace, key, value: input.value, secret_type: input.secret_type ?? existing?.secret_type ?? 'custom', access_tier: tier, metadata: input.metadata ?? existing?.metadata ?? {} },
            { expectedVersion: current },
          );
          return { id: stored.id, namespace, key, version: stored.version, secret_type: stored.secret_type, access_tier: tier, created_at: stored.created_at, updated_at: stored.updated_at };
        } catch (error) {
          // Another writer got in between: re-read, re-decide on what is there now, try again
          // (unless the caller named the version it expected: then the conflict is its answer).
          if (isAssError(error) && error.code === 'CONFLICT' && expected === undefined && attempt < CAS_ATTEMPTS) {
            await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, attempt * 2)));
            continue;
          }
          throw error;
        }
      }
    });
  }

  async listSecrets(agent: AgentSettings, input: { namespace: string }, token?: TokenRestriction): Promise<ListSecretsResult> {
    return this.run(agent, 'list_secrets', input, async (started) => {
      const namespace = validateNamespace(input.namespace);
      const { tokenScopes, approvedScopes } = restrictionScopes(token);
      const basis = token?.approval_id ? [...agent.compiled.grants, ...approvedScopes] : agent.compiled.grants;
      if (!basis.some((g) => scopeCouldMatchIn(g, 'list', namespace)) || (tokenScopes && !tokenScopes.some((t) => scopeCouldMatchIn(t, 'list', namespace)))) {
        await this.denied(agent, 'list_secrets', namespace, undefined, 'default-deny', `no grant${tokenScopes ? ' in this token' : ''} allows listing '${namespace}'`, started);
      }
      const denial = deniedEverywhereIn(agent, namespace);
      if (denial) await this.denied(agent, 'list_secrets', namespace, undefined, `agent:${agent.config.id}:deny:${denial.text}`, `listing '${namespace}' is denied by ${denial.text}`, started);
      const summaries = await this.backend.list(namespace);
      const policy = this.deps.settings.policy;
      const items = summaries
        // A name another tool wrote outside our grammar cannot be granted, so it is not shown.
        .filter((s) => isValidPath(namespace, s.key))
        .filter((s) => !tokenScopes || tokenScopes.some((t) => scopeMatches(t, 'list', namespace, s.key)))
        .filter((s) => evaluate({ agent: agent.compiled, action: 'list', namespace, key: s.key, tier: s.access_tier, approvedScopes }, policy, this.deps.clock()).effect === 'allow')
        .map((s) => ({ namespace: s.namespace, key: s.key, version: s.version, secret_type: s.secret_type, access_tier: effectiveTier(policy, namespace, s.access_tier), created_at: s.created_at, updated_at: s.updated_at, id: s.id, metadata: s.metadata }));
      await this.record({ actor: `agent:${agent.config.id}`, action: 'list_secrets', namespace, outcome: 'allowed', rule: 'grant:list', reason: `${items.length} of ${summaries.length} items visible` }, started);
      return { namespace, items, total: items.length };
    });
  }

  async listNamespaces(agent: AgentSettings, token?: TokenRestriction): Promise<ListNamespacesResponse> {
    return this.run(agent, 'list_namespaces', {}, async (started) => {
      const all = await this.backend.listNamespaces();
      const { tokenScopes, approvedScopes } = restrictionScopes(token);
      // A token with `namespaces:read` may list every namespace the grants show.
      const tokenLimits = tokenScopes && !tokenScopes.some(allowsNamespaceListing) ? tokenScopes : undefined;
      const namespaces = await visibleNamespaces({
        agent, all, basis: [...agent.compiled.grants, ...approvedScopes], tokenScopes: tokenLimits, backend: this.deps.backend, deniedEverywhereIn: (ns) => !!deniedEverywhereIn(agent, ns),
      });
      await this.record({ actor: `agent:${agent.config.id}`, action: 'list_namespaces', outcome: 'allowed', rule: 'grant:list', reason: `${namespaces.length} of ${all.length} namespaces visible` }, started);
      return { namespaces, total: namespaces.length };
    });
  }

  /** delete_secret and rotate_secret never act: they say where a human does it. */
  async requestHumanOperation(agent: AgentSettings, operation: 'delete' | 'rotate', input: { namespace: string; key: string }): Promise<HumanAuthResponse> {
    const tool = operation === 'delete' ? 'delete_secret' : 'rotate_secret';
    return this.run(agent, tool, input, async (started) => {
      const { namespace, key } = validatePath(input.namespace, input.key);
      const decision = evaluate({ agent: agent.compiled, action: operation, namespace, key, tier: null, approvedScopes: [] }, this.deps.settings.policy, this.deps.clock());
      await this.record({ actor: `agent:${agent.config.id}`, action: tool, namespace, key, outcome: 'human_auth_required', rule: decision.rule, reason: decision.reason }, started);
      return { requires_human_auth: true, message: humanAuthMessage(operation, namespace, key, this.links.secret(namespace, key) ?? undefined, this.links.command('').trimEnd()) };
    });
  }

  async requestToken(agent: AgentSettings, input: { scopes: string[]; ttl?: string; max_uses?: number; ip_allowlist?: string[]; reason?: string }): Promise<RequestTokenResponse> {
    return this.run(agent, 'request_token', {}, async (started) => {
      const { scopes, parsed } = tokenRequestScopes(agent, input.scopes);
      const ttlText = input.ttl ?? formatTtl(this.deps.settings.tokenDefaultTtlMs);
      const ttlMs = parseTtl(ttlText);
      // Security: a token asked for under an OAuth grant ends no later than the grant (and dies with it, context.ts).
      const grantLeftMs = agent.oauthGrant ? agent.oauthGrant.endsAtMs - this.deps.clock().getTime() : Infinity;
      const capMs = Math.min(agent.maxTokenTtlMs, this.deps.settings.tokenMaxTtlMs, grantLeftMs);
      if (ttlMs > capMs) throw new AssError('INVALID_ARGUMENT', `ttl ${ttlText} is longer than this agent may hold (${formatTtl(capMs)}). Ask for ${formatTtl(capMs)} or less.`);
      const actor = `agent:${agent.config.id}`;
      const covered = parsed.every((req) => agent.compiled.grants.some((g) => scopeCovers(g, req)));
      // The hosted product's rule: the highest tier the scopes reach decides, at token time.
      const tierNeed = covered ? await tokenTierApproval(this.deps, agent, parsed) : null;
      const ipAllowlist = input.ip_allowlist;
      if (covered && !tierNeed) {
        const issued = await this.deps.tokens.issue({ agentId: agent.config.id, keySha256: agent.config.key_sha256, scopes, ttlMs, maxUses: input.max_uses, ipAllowlist, ...(agent.oauthGrant ? { grantId: agent.oauthGrant.id } : {}) });
        // Fail closed: the token is handed out only once its issue is on record.
        await this.record({ actor, action: 'request_token', outcome: 'token_issued', rule: 'grant:covers', token_id: issued.token_id, reason: scopesDigest(scopes) }, started);
        return { ...issued, requires_approval: false, scopes, ttl: ttlText };
      }
      // Beyond the standing grants, or reaching a tier that needs a human: only a human can say
      // yes, and each approval yields one token.
      const redeemed = await this.deps.approvals.redeemTokenApproval(agent.config.id, scopes, ttlMs, input.max_uses, this.deps.tokens.maxActive, (approval) =>
        this.deps.tokens.newRecord({ agentId: agent.config.id, keySha256: agent.config.key_sha256, scopes, ttlMs, maxUses: input.max_uses, ipAllowlist, approvalId: approval.id, ...(agent.oauthGrant ? { grantId: agent.oauthGrant.id } : {}) }),
      );
      if (redeemed) {
        await this.record({ actor, action: 'request_token', outcome: 'token_issued', rule: 'approval', approval_id: redeemed.approval_id, token_id: redeemed.id, reason: scopesDigest(scopes) }, started);
        return { ...(await this.deps.tokens.sign(redeemed)), requires_approval: false, scopes, ttl: ttlText };
      }
      // Security: a token beyond the grants may reach any tier anywhere, so it needs the strictest approval rule.
      const { approvers, delayMs } = tierNeed ?? strictestApprovalRule(this.deps.settings.policy);
      const rule = tierNeed ? tierNeed.rule : 'token:beyond-grants';
      const why = tierNeed ? `reaches ${tierNeed.tier} secrets` : "beyond the agent's grants";
      const { approval } = await this.deps.approvals.request({
        kind: 'token', agentId: agent.config.id, scopes, ttlMs, maxUses: input.max_uses,
        reason: `request_token ${why} (${scopes.length} scope${scopes.length === 1 ? '' : 's'})`, rule, approvers, delayMs,
        ...(input.reason ? { agentReason: input.reason } : {}),
        ...(agent.onBehalfOf ? { onBehalfOf: agent.onBehalfOf } : {}),
      });
      await this.record({ actor, action: 'request_token', outcome: 'approval_requested', rule, approval_id: approval.id, reason: scopesDigest(scopes) }, started);
      const url = this.links.approval(approval.id);
      return { requires_approval: true, approval_id: approval.id, message: 'Human approval required. Use get_approval_status to check.', ...(url ? { approval_url: url } : {}) };
    });
  }

  async approvalStatus(agent: AgentSettings, input: { approval_id: string }): Promise<ApprovalStatusResponse> {
    return this.run(agent, 'get_approval_status', {}, async (started) => {
      const view = await this.deps.approvals.viewForAgent(input.approval_id, agent.config.id);
      const outcome = view.status === 'pending' ? 'approval_pending' : `approval_${view.status === 'approved' ? 'granted' : view.status}`;
      await this.record({ actor: `agent:${agent.config.id}`, action: 'get_approval_status', outcome, approval_id: view.approval_id }, started);
      const { approval_id: _id, ...rest } = view;
      // Beside the seed's fields: where the human decides, while there is something to decide.
      const url = view.status === 'pending' ? this.links.approval(view.approval_id) : null;
      return { ...rest, ...(url ? { approval_url: url } : {}) };
    });
  }

  /**
   * Use without reveal: `fn` runs inside the pipeline (revocation, tool allow-list, timing, every
   * failure audited once) and resolves secrets with action `use` (never `read`).
   */
  async withUse<T>(agent: AgentSettings, tool: UseTool, fn: (session: UseSession) => Promise<T>, token?: TokenRestriction): Promise<T> {
    // Security: `inject` writes the values where the agent can read them, so it is a read (H12-1).
    const action: Action = tool === 'inject' ? 'read' : 'use';
    return this.run(agent, tool, {}, async (started) => {
      const actor = `agent:${agent.config.id}`;
      return fn({
        resolve: async (references, how) => {
          const values = new Map<string, string>();
          for (const ref of references) {
            const { namespace, key } = validatePath(ref.namespace, ref.key);
            const pass = await this.passEarly(agent, tool, action, namespace, key, started, token);
            const record = await this.backend.get(namespace, key);
            const decision = await this.access.decide(agent, action, namespace, key, record?.access_tier ?? null, token, pass);
            if (decision.effect === 'allow' && !record) {
              throw new AssError('SECRET_NOT_FOUND', `No secret '${key}' in '${namespace}' (${ref.text}). Use list_secrets on '${namespace}' to see what exists.`);
            }
            await this.gate(agent, tool, action, namespace, key, decision, started, token, undefined, how);
            if (ref.version !== undefined && record!.version !== ref.version) {
              throw new AssError('CONFLICT', `${ref.text} pins version ${ref.version}, but '${namespace}/${key}' is at version ${record!.version}; drop the #version or pin ${record!.version}.`, { expected_version: ref.version, current_version: record!.version });
            }
            values.set(ref.text, record!.value);
          }
          return values;
        },
        refuse: async (references, how, error) => {
          for (const ref of references) {
            await this.record({ actor, action: tool, namespace: ref.namespace, key: ref.key, outcome: 'denied', rule: 'use:allow-list', reason: `${how}: ${error.code}` }, started);
          }
          if (references.length) audited.add(error);
          throw error;
        },
        finished: async (references, how, ok, result) => {
          for (const ref of references) {
            await this.record({ actor, action: tool, namespace: ref.namespace, key: ref.key, outcome: ok ? 'ok' : 'error', rule: 'use', reason: `${how}: ${result}`, ...(token ? { token_id: token.token_id } : {}) }, started);
          }
        },
      });
    });
  }

  // ---- the steps ----

  /** Records and throws the refusal `Access.check` finds, if any; else what it found, for `decide`. */
  private async passEarly(agent: AgentSettings, tool: string, action: Action, namespace: string, key: string, started: number, token?: TokenRestriction): Promise<EarlyPass> {
    const early = await this.access.check(agent, action, namespace, key, token);
    if (early.refusal) return this.denied(agent, tool, namespace, key, early.refusal.rule, early.refusal.reason, started);
    return early.pass;
  }

  /** Acts on a decision: allow records and returns; anything else records and throws. */
  private async gate(agent: AgentSettings, tool: string, action: Action, namespace: string, key: string, decision: Decision, started: number, token?: TokenRestriction, agentReason?: string, how?: string): Promise<void> {
    const actor = `agent:${agent.config.id}`;
    if (decision.effect === 'allow') {
      await this.record({ actor, action: tool, namespace, key, outcome: 'allowed', rule: decision.rule, ...(how ? { reason: how } : {}), ...(token ? { token_id: token.token_id } : {}) }, started);
      return;
    }
    if (decision.effect === 'require_approval') {
      const scope = `secrets:${action}:${namespace}/${key}`;
      const { approval } = await this.deps.approvals.request({
        kind: 'secret_access', agentId: agent.config.id, scopes: [scope], ttlMs: this.deps.settings.grantTtlMs,
        reason: `${tool} on ${namespace}/${key} (${decision.tier} tier)${how ? ` — ${how}` : ''}`, rule: decision.rule,
        approvers: decision.approval?.approvers ?? 1, delayMs: decision.approval?.delayMs ?? 0,
        ...(agentReason ? { agentReason } : {}),
        ...(agent.onBehalfOf ? { onBehalfOf: agent.onBehalfOf } : {}),
      });
      await this.record({ actor, action: tool, namespace, key, outcome: 'approval_requested', rule: decision.rule, approval_id: approval.id }, started);
      const url = this.links.approval(approval.id);
      const error = new AssError('APPROVAL_REQUIRED', approvalRequiredMessage(approval.id, this.links), { approval_id: approval.id, ...(url ? { approval_url: url } : {}) });
      audited.add(error);
      throw error;
    }
    await this.denied(agent, tool, namespace, key, decision.rule, decision.reason, started);
  }

  private async denied(agent: AgentSettings, tool: string, namespace: string, key: string | undefined, rule: string, reason: string, started: number): Promise<never> {
    await this.record({ actor: `agent:${agent.config.id}`, action: tool, namespace, ...(key ? { key } : {}), outcome: 'denied', rule, reason }, started);
    // A token's own scopes are the caller's choice: the fix is a wider token, not new grants.
    const advice = rule.startsWith('token:')
      ? 'Request a token whose scopes cover it (POST /v1/tokens), within what the agent may hold.'
      : "This agent's grants do not allow it; a human can change them in the config.";
    const error = new AssError('POLICY_DENIED', `Access denied: ${reason}. ${advice}`);
    audited.add(error);
    throw error;
  }

  private async record(event: AuditEvent, started: number): Promise<void> {
    // The person behind an OAuth sign-in rides along with every record of the call (see run()).
    const person = onBehalfOf.getStore();
    const append = () => this.deps.audit.append({ ...event, ...(person ? { on_behalf_of: person } : {}), latency_ms: Math.round((performance.now() - started) * 1000) / 1000 }, this.deps.clock());
    if (this.deps.tracer) await this.deps.tracer.span('ass.audit append', { 'ass.outcome': event.outcome }, append);
    else await append();
  }

  /**
   * Wraps a tool call: checks the agent key was not revoked since start, times it, and makes
   * sure every failure is audited once and leaves as an AssError (unknown ones as INTERNAL
   * with a correlation id; the original goes to the operator's log, never to the agent).
   */
  private run<T>(agent: AgentSettings, tool: ToolName | UseTool, input: { namespace?: string; key?: string }, fn: (started: number) => Promise<T>): Promise<T> {
    const { tracer } = this.deps;
    if (!tracer) return onBehalfOf.run(agent.onBehalfOf, () => this.runAs(agent, tool, input, fn));
    const target = safeTarget(input);
    return tracer.span(`ass.tool ${tool}`, { 'ass.tool': tool, 'ass.agent.id': agent.config.id, 'ass.namespace': target.namespace, 'ass.key': target.key }, async (span) => {
      const result = await onBehalfOf.run(agent.onBehalfOf, () => this.runAs(agent, tool, input, fn));
      span.set({ 'ass.outcome': 'ok' });
      return result;
    });
  }

  private async runAs<T>(agent: AgentSettings, tool: ToolName | UseTool, input: { namespace?: string; key?: string }, fn: (started: number) => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      // A key revoked since the last call (by any process) drops the read cache: access is
      // decided on every read anyway; this leaves nothing a revoked agent ever read in memory.
      // Counted only when a cache exists, so an uncached server pays nothing for it.
      if (readCacheFigures(this.deps.backend)) {
        const revocations = await this.deps.state.revocationCount();
        if (revocations !== this.revocationsSeen) {
          this.revocationsSeen = revocations;
          dropReadCache(this.deps.backend);
        }
      }
      if (await this.deps.state.isRevoked(agent.config.key_sha256)) {
        throw new AssError('UNAUTHENTICATED', 'This agent key was revoked by a human. Ask for a new key.');
      }
      if (removedFromConfig.has(agent)) {
        throw new AssError('UNAUTHENTICATED', 'This agent is no longer in the server\'s config (removed, or given a new key). Ask a human for a new key.');
      }
      // Security: the allow-list and read-only mode hold on every transport, not only in tools/list.
      // The `run` and `inject` commands started with an agent's key count as the tools they are
      // equivalent to (H12-1): run ≈ run_with_secrets, inject (renders values) ≈ get_secret.
      const asTool: ToolName = tool === 'run' ? 'run_with_secrets' : tool === 'inject' ? 'get_secret' : tool;
      if (!toolAllowed(agent, asTool, this.deps.settings.config.server.read_only)) {
        throw new AssError('POLICY_DENIED', `${tool} is not available to this agent (${this.deps.settings.config.server.read_only && WRITING_TOOLS.has(asTool) ? 'the server is read-only' : 'not in its tool allow-list'}).`);
      }
      return await fn(started);
    } catch (error) {
      const failure = isAssError(error) ? error : this.internal(error, tool);
      if (failure.code === 'AUDIT_UNAVAILABLE') {
        // The agent hears only that the request was refused; the operator needs the reason.
        const cause = (failure as Error & { cause?: unknown }).cause;
        this.deps.logger.error({ tool, reason: String((cause as Error | undefined)?.message ?? cause ?? 'unknown').slice(0, 300) }, 'audit log unavailable: request refused');
      }
      if (!audited.has(failure) && failure.code !== 'AUDIT_UNAVAILABLE') {
        const target = safeTarget(input);
        await this.record({ actor: `agent:${agent.config.id}`, action: tool, ...target, outcome: 'error', error_code: failure.code }, started).catch(() => undefined);
      }
      throw failure;
    }
  }

  private internal(error: unknown, tool: string): AssError {
    const correlationId = randomUUID();
    // Security: log the error's class and a cut message only; the agent gets the id alone.
    this.deps.logger.error({ correlationId, tool, errorName: (error as Error)?.name, message: String((error as Error)?.message ?? error).slice(0, 200) }, 'unexpected error');
    return new AssError('INTERNAL', `Internal error (correlation id ${correlationId}). The operator can find it in the server log.`, { correlation_id: correlationId }, { cause: error });
  }
}

const rank = (tier: AccessTier): number => ACCESS_TIERS.indexOf(tier);

/** An explicit deny of the agent's that covers every secret in or under `namespace`, if any. */
function deniedEverywhereIn(agent: AgentSettings, namespace: string): Scope | undefined {
  const everything = parseScope(`secrets:list:${namespace}/**`);
  return agent.compiled.deny.find((d) => scopeCovers(d, everything));
}

/** Namespace/key for an audit record, only when they are valid names (never raw input). */
function safeTarget(input: { namespace?: string; key?: string }): { namespace?: string; key?: string } {
  try {
    const namespace = input.namespace !== undefined ? validateNamespace(input.namespace) : undefined;
    const key = namespace !== undefined && input.key !== undefined ? validatePath(namespace, input.key).key : undefined;
    return { ...(namespace ? { namespace } : {}), ...(key ? { key } : {}) };
  } catch {
    return {};
  }
}

function versionConflict(namespace: string, key: string, expected: number, current: number): AssError {
  return new AssError(
    'CONFLICT',
    current === 0
      ? `'${namespace}/${key}' does not exist (expected version ${expected}). Read it again before writing.`
      : `'${namespace}/${key}' is at version ${current}, not ${expected}: someone else wrote it. Read it again before writing.`,
    { expected_version: expected, current_version: current },
  );
}
