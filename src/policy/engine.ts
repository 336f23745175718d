/**
 * The policy engine: parse → compile → evaluate, in the manner of Vault's policy.go / acl.go.
 * Default deny, an explicit deny wins, every decision names the rule that produced it.
 * Pure: no I/O, no clock reads (time is passed in).
 */

import { ACCESS_TIERS, ACTIONS, type AccessTier, type Action } from '../shared/types.js';
import { AssError } from '../shared/errors.js';
import { MAX_NAMESPACE_DEPTH, isValidSegment, quoteForMessage, validateNamespace, validatePath } from './names.js';
import { matchSegments, parsePathPattern, parseScope, scopeMatcher, type Scope } from './scope.js';

/** What a tier rule does to an agent read/write: serve it, ask a human first, or refuse. */
export type TierEffect = 'auto' | 'approval' | 'deny';
/** A compiled tier rule: `approvers` ≥ 1 (default 1), `delayMs` ≥ 0 (default 0). */
export interface TierRule { effect: TierEffect; approvers: number; delayMs: number }
/** A tier rule as written in config. */
export interface TierRuleInput { effect: TierEffect; approvers?: number; delayMs?: number }

/** Plain data, already validated by the config layer (zod); compilePolicy checks it again. */
export interface PolicyInput {
  tiers: Record<AccessTier, TierRuleInput>;
  /** `pattern` is a namespace pattern with whole-segment globs, e.g. "production/**". */
  namespaces: Array<{ pattern: string; default_tier?: AccessTier; tiers?: Partial<Record<AccessTier, TierRuleInput>> }>;
  /** Tier for a secret that has none stored and no namespace default. */
  defaultTier: AccessTier;
}

/** An agent as written in config: grants and explicit denies are scope texts. */
export interface AgentPolicyInput { id: string; grants: string[]; deny: string[] }

/** One compiled namespace override. `pattern` is canonical. */
export interface CompiledNamespaceRule {
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly defaultTier: AccessTier | null;
  readonly tiers: Readonly<Partial<Record<AccessTier, TierRule>>>;
}

/** Immutable (deeply frozen) compiled policy. */
export interface CompiledPolicy {
  readonly tiers: Readonly<Record<AccessTier, TierRule>>;
  readonly namespaces: readonly CompiledNamespaceRule[];
  readonly defaultTier: AccessTier;
}

/** Immutable compiled agent: grants and denies parsed, deduplicated and sorted. */
export interface CompiledAgent { id: string; grants: Scope[]; deny: Scope[] }

/** One access to decide. The caller resolves the agent, the stored tier and active approvals. */
export interface AccessRequest {
  agent: CompiledAgent;
  /** read | write | list | delete | rotate | use (tiers and approvals apply to use as to read) */
  action: Action;
  /** Validated names (evaluate validates them again and throws INVALID_ARGUMENT if not). */
  namespace: string;
  key: string;
  /** The secret's stored tier; null = none stored (the namespace default applies). */
  tier: AccessTier | null;
  /** Scopes a human approved for this agent that are active now (the caller filters by time). */
  approvedScopes: Scope[];
}

/** The decision's effect; the server acts on it (serve, refuse, open an approval, point to a human). */
export type Effect = 'allow' | 'deny' | 'require_approval' | 'human_only';
/** The result of evaluate: the effect, the rule that produced it and a reason safe to show the agent. */
export interface Decision {
  effect: Effect;
  /** Names the rule that decided, e.g. `default-deny`, `tier:critical`, `agent:bot:deny:<scope>`. */
  rule: string;
  reason: string;
  tier: AccessTier;
  /** Present exactly when effect is `require_approval`. */
  approval?: { approvers: number; delayMs: number };
}

const TIER_EFFECTS: readonly TierEffect[] = ['auto', 'approval', 'deny'];

function configError(message: string): AssError {
  return new AssError('CONFIG_INVALID', message);
}

function isTier(t: unknown): t is AccessTier {
  return (ACCESS_TIERS as readonly unknown[]).includes(t);
}

function tierRank(t: AccessTier): number {
  return ACCESS_TIERS.indexOf(t);
}

function compileTierRule(input: TierRuleInput | undefined, where: string): TierRule {
  if (input === null || typeof input !== 'object') throw configError(`${where}: missing tier rule`);
  if (!TIER_EFFECTS.includes(input.effect)) {
    throw configError(`${where}.effect: ${quoteForMessage(input.effect)} is not one of auto, approval, deny`);
  }
  const approvers = input.approvers ?? 1;
  const delayMs = input.delayMs ?? 0;
  if (!Number.isSafeInteger(approvers) || approvers < 1) throw configError(`${where}.approvers: must be a whole number ≥ 1`);
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) throw configError(`${where}.delayMs: must be a whole number of milliseconds ≥ 0`);
  return Object.freeze({ effect: input.effect, approvers, delayMs });
}

/**
 * Compiles validated config into an immutable policy.
 * @throws AssError CONFIG_INVALID naming the offending field (bad pattern, tier or rule).
 */
export function compilePolicy(input: PolicyInput): CompiledPolicy {
  if (!isTier(input.defaultTier)) throw configError(`defaultTier: ${quoteForMessage(input.defaultTier)} is not one of ${ACCESS_TIERS.join(', ')}`);
  const tiers = {} as Record<AccessTier, TierRule>;
  for (const t of ACCESS_TIERS) tiers[t] = compileTierRule(input.tiers?.[t], `tiers.${t}`);
  const namespaces = (input.namespaces ?? []).map((ns, i): CompiledNamespaceRule => {
    const where = `namespaces[${i}]`;
    let segments: string[];
    try {
      segments = parsePathPattern(ns.pattern);
    } catch (error) {
      throw configError(`${where}.pattern ${quoteForMessage(ns.pattern)}: ${error instanceof AssError ? error.message : 'invalid'}`);
    }
    if (segments.filter((s) => s !== '**').length > MAX_NAMESPACE_DEPTH) {
      throw configError(`${where}.pattern ${quoteForMessage(ns.pattern)}: a namespace has at most ${MAX_NAMESPACE_DEPTH} segments, so it could never match`);
    }
    if (ns.default_tier !== undefined && !isTier(ns.default_tier)) {
      throw configError(`${where}.default_tier: ${quoteForMessage(ns.default_tier)} is not one of ${ACCESS_TIERS.join(', ')}`);
    }
    const overrides: Partial<Record<AccessTier, TierRule>> = {};
    for (const [t, rule] of Object.entries(ns.tiers ?? {})) {
      if (!isTier(t)) throw configError(`${where}.tiers: unknown tier ${quoteForMessage(t)}`);
      if (rule !== undefined) overrides[t] = compileTierRule(rule, `${where}.tiers.${t}`);
    }
    return Object.freeze({
      pattern: segments.join('/'),
      segments: Object.freeze(segments),
      defaultTier: ns.default_tier ?? null,
      tiers: Object.freeze(overrides),
    });
  });
  return Object.freeze({ tiers: Object.freeze(tiers), namespaces: Object.freeze(namespaces), defaultTier: input.defaultTier });
}

function compileScopes(agentId: string, field: string, texts: string[]): Scope[] {
  if (!Array.isArray(texts)) throw configError(`agent ${quoteForMessage(agentId)} ${field}: must be a list of scopes`);
  const byText = new Map<string, Scope>();
  texts.forEach((text, i) => {
    try {
      const scope = parseScope(text);
      byText.set(scope.text, scope);
    } catch (error) {
      throw configError(`agent ${quoteForMessage(agentId)} ${field}[${i}]: ${error instanceof AssError ? error.message : 'invalid scope'}`);
    }
  });
  return Object.freeze([...byText.values()].sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0))) as Scope[];
}

/**
 * Compiles an agent's grants and denies (parsed, deduplicated, sorted, frozen).
 * @throws AssError CONFIG_INVALID when the id is not a name segment or a scope is invalid.
 */
export function compileAgent(input: AgentPolicyInput): CompiledAgent {
  // Security: the id is embedded in rule names and audit records; keep it to the name grammar
  // so it cannot carry ":" (forging a rule name), newlines or look-alike characters.
  if (!isValidSegment(input.id)) throw configError(`agent id ${quoteForMessage(input.id)} is not a valid name segment`);
  return Object.freeze({
    id: input.id,
    grants: compileScopes(input.id, 'grants', input.grants),
    deny: compileScopes(input.id, 'deny', input.deny),
  });
}

function matchingOverrides(policy: CompiledPolicy, namespace: string): CompiledNamespaceRule[] {
  // Security: validate first; an unvalidated `*` or `**` in the namespace would be read as a
  // wildcard token by the matcher and could make a stricter override fail to apply.
  const segments = validateNamespace(namespace).split('/');
  return policy.namespaces.filter((o) => matchSegments(o.segments, segments));
}

function defaultTierFrom(policy: CompiledPolicy, overrides: readonly CompiledNamespaceRule[]): AccessTier {
  let tier: AccessTier | null = null;
  for (const o of overrides) {
    if (o.defaultTier !== null && (tier === null || tierRank(o.defaultTier) > tierRank(tier))) tier = o.defaultTier;
  }
  return tier ?? policy.defaultTier;
}

function effectiveTierFrom(policy: CompiledPolicy, overrides: readonly CompiledNamespaceRule[], storedTier: AccessTier | null): AccessTier {
  if (storedTier === null) return defaultTierFrom(policy, overrides);
  // Security: fail closed on a corrupt or foreign tier value read from a backend.
  return isTier(storedTier) ? storedTier : 'critical';
}

/**
 * The strictest `default_tier` among all namespace overrides matching `namespace`
 * (critical > sensitive > standard), else `policy.defaultTier`.
 * @throws AssError INVALID_ARGUMENT for an invalid namespace.
 */
export function namespaceDefaultTier(policy: CompiledPolicy, namespace: string): AccessTier {
  return defaultTierFrom(policy, matchingOverrides(policy, namespace));
}

/**
 * `storedTier` when not null, else namespaceDefaultTier. A stored value that is not a known
 * tier is treated as `critical`.
 * @throws AssError INVALID_ARGUMENT for an invalid namespace.
 */
export function effectiveTier(policy: CompiledPolicy, namespace: string, storedTier: AccessTier | null): AccessTier {
  if (storedTier === null) return namespaceDefaultTier(policy, namespace);
  validateNamespace(namespace);
  return effectiveTierFrom(policy, [], storedTier);
}

const EFFECT_RANK: Record<TierEffect, number> = { auto: 0, approval: 1, deny: 2 };

/**
 * The rule for `tier` in `namespace`: the strictest of the global rule and every matching
 * namespace override (deny > approval > auto; on equal effect the max approvers and max delay).
 * `source` names where it came from, e.g. `tier:critical` or `namespace:production/**:tier:critical`
 * (two sources joined by `+` when the max approvers and a longer delay come from different rules).
 */
export function resolveTierRule(policy: CompiledPolicy, namespace: string, tier: AccessTier): { rule: TierRule; source: string } {
  return tierRuleFrom(policy, matchingOverrides(policy, namespace), tier);
}

function tierRuleFrom(policy: CompiledPolicy, overrides: readonly CompiledNamespaceRule[], tier: AccessTier): { rule: TierRule; source: string } {
  const candidates = [{ source: `tier:${tier}`, rule: policy.tiers[tier] }];
  for (const o of overrides) {
    const rule = o.tiers[tier];
    if (rule !== undefined) candidates.push({ source: `namespace:${o.pattern}:tier:${tier}`, rule });
  }
  const top = Math.max(...candidates.map((c) => EFFECT_RANK[c.rule.effect]));
  const strictest = candidates.filter((c) => EFFECT_RANK[c.rule.effect] === top);
  const byApprovers = strictest.reduce((a, b) => (b.rule.approvers > a.rule.approvers ? b : a));
  const byDelay = strictest.reduce((a, b) => (b.rule.delayMs > a.rule.delayMs ? b : a));
  const effect = byApprovers.rule.effect;
  if (effect !== 'approval') return { rule: Object.freeze({ ...strictest[0]!.rule }), source: strictest[0]!.source };
  // Name the delay's source too only when it adds a longer delay than the approvers' source.
  const sources = byDelay.rule.delayMs > byApprovers.rule.delayMs ? [byApprovers.source, byDelay.source] : [byApprovers.source];
  return {
    rule: Object.freeze({ effect, approvers: byApprovers.rule.approvers, delayMs: byDelay.rule.delayMs }),
    source: sources.join('+'),
  };
}

/**
 * The part of a decision that does not depend on the secret (steps 2-3 of `evaluate`): an
 * explicit deny, or no grant and no approved scope, refuses at once. The server runs this
 * before it reads anything from a backend, so an agent without a grant causes no backend
 * traffic and learns nothing about what exists.
 */
export function checkScopes(req: Omit<AccessRequest, 'tier'>): { effect: 'deny'; rule: string; reason: string } | { grant: Scope | undefined; approved: Scope | undefined } {
  const { agent, action, namespace, key } = req;
  const requested = `secrets:${action}:${namespace}/${key}`;
  // The names are validated and split once for every scope (an invalid name matches none).
  const matches = scopeMatcher(action, namespace, key);
  // Security: `use` is reveal-equivalent wherever a command or host can transform the value,
  // so a deny of `read` also denies `use` (a `use` deny alone still leaves `read` to the grants).
  const readMatches = action === 'use' ? scopeMatcher('read', namespace, key) : null;
  const denied = agent.deny.find((s) => matches(s) || (readMatches !== null && readMatches(s)));
  if (denied !== undefined) {
    return { effect: 'deny', rule: `agent:${agent.id}:deny:${denied.text}`, reason: `agent ${agent.id} is explicitly denied ${denied.text}, which matches ${requested}` };
  }
  const grant = agent.grants.find(matches);
  const approved = req.approvedScopes.find(matches);
  if (grant === undefined && approved === undefined) return { effect: 'deny', rule: 'default-deny', reason: `no grant covers ${requested}` };
  return { grant, approved };
}

/**
 * The strictest approval rule anywhere in the policy (most approvers, longest delay). A token
 * beyond an agent's grants may reach any tier in any namespace, so a human approval of it must
 * meet the strictest rule it could bypass.
 */
export function strictestApprovalRule(policy: CompiledPolicy): { approvers: number; delayMs: number } {
  const rules = [...Object.values(policy.tiers), ...policy.namespaces.flatMap((ns) => Object.values(ns.tiers))].filter((r): r is TierRule => r?.effect === 'approval');
  return { approvers: Math.max(1, ...rules.map((r) => r.approvers)), delayMs: Math.max(0, ...rules.map((r) => r.delayMs)) };
}

/**
 * Decides one access. Order: (1) delete/rotate → human_only; (2) an agent deny scope matches →
 * deny; (3) no grant and no approved scope matches → default-deny; (4) list → allow (metadata
 * only, no tier rule); (5) the strictest tier rule for the effective tier; (6) deny → deny;
 * (7) approval → allow if an approved scope matches, else require_approval; (8) auto → allow.
 * `now` is accepted for future time-based rules and not read today.
 * @throws AssError INVALID_ARGUMENT for an invalid namespace, key or action.
 */
export function evaluate(req: AccessRequest, policy: CompiledPolicy, now: Date): Decision {
  void now;
  const { agent, action, namespace, key } = req;
  validatePath(namespace, key);
  // Security: an unknown action must not fall through to a branch meant for another one.
  if (!(ACTIONS as readonly string[]).includes(action)) {
    throw new AssError('INVALID_ARGUMENT', `Unknown action ${quoteForMessage(action)}; actions are ${ACTIONS.join(', ')}.`);
  }
  const overrides = matchingOverrides(policy, namespace);
  const tier = effectiveTierFrom(policy, overrides, req.tier);
  if (action === 'delete' || action === 'rotate') return humanOnly(action, tier);
  const scoped = checkScopes(req);
  if ('effect' in scoped) return { ...scoped, tier };
  return scopedDecision(req, scoped, policy, overrides, tier);
}

function humanOnly(action: 'delete' | 'rotate', tier: AccessTier): Decision {
  return {
    effect: 'human_only', rule: 'builtin:human-only', tier,
    reason: `${action} is human-only: a human does it with an admin credential, never an agent`,
  };
}

/** What `checkScopes` found for a request it did not refuse. */
export interface ScopeMatch { grant: Scope | undefined; approved: Scope | undefined }

/**
 * Steps 1 and 4–8 of `evaluate`, for a request whose scopes `checkScopes` has already passed
 * with the same agent and approved scopes (`scoped` is its result): the server checks the
 * scopes before it reads the secret and finishes the decision with the stored tier here,
 * without matching the grants again. The namespace is validated again (the overrides need it).
 * @throws AssError INVALID_ARGUMENT for an invalid namespace.
 */
export function evaluateScoped(req: AccessRequest, scoped: ScopeMatch, policy: CompiledPolicy): Decision {
  const overrides = matchingOverrides(policy, req.namespace);
  const tier = effectiveTierFrom(policy, overrides, req.tier);
  if (req.action === 'delete' || req.action === 'rotate') return humanOnly(req.action, tier);
  return scopedDecision(req, scoped, policy, overrides, tier);
}

/** Steps 4–8 of `evaluate` with the namespace's overrides and the effective tier found once. */
function scopedDecision(req: AccessRequest, scoped: ScopeMatch, policy: CompiledPolicy, overrides: readonly CompiledNamespaceRule[], tier: AccessTier): Decision {
  const { agent, action, namespace, key } = req;
  const requested = `secrets:${action}:${namespace}/${key}`;
  const { grant, approved } = scoped;
  // Security: a match with neither is not a pass (checkScopes refuses it); never allow on it.
  if (grant === undefined && approved === undefined) return { effect: 'deny', rule: 'default-deny', tier, reason: `no grant covers ${requested}` };
  const allowRule = grant !== undefined ? `agent:${agent.id}:grant:${grant.text}` : `approval:${approved!.text}`;
  if (action === 'list') {
    return { effect: 'allow', rule: allowRule, tier, reason: `listing reveals metadata only; ${requested} is granted` };
  }

  const { rule, source } = tierRuleFrom(policy, overrides, tier);
  if (rule.effect === 'deny') {
    return { effect: 'deny', rule: source, tier, reason: `${tier} secrets in ${namespace} are not served to agents (${source})` };
  }
  if (rule.effect === 'approval') {
    if (approved !== undefined) {
      return { effect: 'allow', rule: `approval:${approved.text}`, tier, reason: `a human approved ${approved.text} (${source})` };
    }
    return {
      effect: 'require_approval', rule: source, tier,
      reason: `${tier} secrets in ${namespace} need ${rule.approvers} human approval(s) for ${requested} (${source})`,
      approval: { approvers: rule.approvers, delayMs: rule.delayMs },
    };
  }
  return { effect: 'allow', rule: allowRule, tier, reason: `${tier} tier is served automatically (${source})` };
}
