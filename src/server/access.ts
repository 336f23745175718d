import type { Approvals } from '../approvals/approvals.js';
import type { ToolName } from '../config/schema.js';
import { checkScopes, effectiveTier, evaluate, evaluateScoped, parseScope, scopeMatches, type Decision, type Scope, type ScopeMatch } from '../policy/index.js';
import type { AccessTier, Action, Clock } from '../shared/types.js';
import type { AgentSettings, Settings } from './settings.js';

/**
 * A call made with a scoped token (the REST API): it may do only what the token's scopes
 * allow, within the agent's own policy; a token issued from a human approval counts as that
 * approval (its scopes are the approved scopes). Absent for MCP calls, which act as the agent.
 */
export interface TokenRestriction {
  token_id: string;
  scopes: string[];
  approval_id?: string;
}

/** Tools that change something. Read-only mode offers none of them (tested against readOnlyHint). */
export const WRITING_TOOLS: ReadonlySet<ToolName> = new Set<ToolName>(['set_secret', 'request_token']);

/**
 * Whether this agent may use this tool at all: its allow-list, and the server's read-only mode.
 * The MCP registry registers only allowed tools; the service checks again on every call, so
 * REST and any future transport obey the same rule.
 */
export function toolAllowed(agent: AgentSettings, tool: ToolName, readOnly: boolean): boolean {
  if (readOnly && WRITING_TOOLS.has(tool)) return false;
  return !agent.config.tools || agent.config.tools.includes(tool);
}

/** A token's scopes parsed (undefined without a token) and the scopes it counts as approved. */
export function restrictionScopes(token: TokenRestriction | undefined): { tokenScopes: Scope[] | undefined; approvedScopes: Scope[] } {
  if (!token) return { tokenScopes: undefined, approvedScopes: [] };
  const tokenScopes = token.scopes.map(parseScope);
  return { tokenScopes, approvedScopes: token.approval_id ? tokenScopes : [] };
}

/** A request `Access.check` did not refuse, and what the check found; good for that one access only. */
export interface EarlyPass {
  readonly agent: AgentSettings;
  readonly action: Action;
  readonly namespace: string;
  readonly key: string;
  readonly token: TokenRestriction | undefined;
  /** The token's approved scopes (a token issued from an approval). */
  readonly approvedScopes: Scope[];
  readonly scoped: ScopeMatch;
  /** Passed only through a grant read from the approvals store (`decide` then checks again). */
  readonly fromStore: boolean;
}

export type EarlyCheck = { refusal: Decision; pass?: undefined } | { refusal: null; pass: EarlyPass };

/**
 * Access decisions for the service: the policy engine plus what only the server knows — the
 * token a call came with and the grants humans approved (read from the store only when needed).
 */
export class Access {
  constructor(
    /** The settings in force now (they follow the config file; see live-settings.ts). */
    private readonly current: () => Settings,
    private readonly approvals: Approvals,
    private readonly clock: Clock,
  ) {}

  /**
   * What can be decided before reading the secret: a token that does not cover the access, an
   * explicit deny, or no grant and no approved scope. Returns the refusal, or what the check
   * found (`pass`), which `decide` takes so the grants are matched once per access.
   */
  async check(agent: AgentSettings, action: Action, namespace: string, key: string, token?: TokenRestriction): Promise<EarlyCheck> {
    // The names were validated by the caller; checkScopes matches nothing on an invalid one.
    const { tokenScopes, approvedScopes } = restrictionScopes(token);
    if (tokenScopes && !tokenScopes.some((s) => scopeMatches(s, action, namespace, key))) {
      const tier = effectiveTier(this.current().policy, namespace, null);
      return { refusal: { effect: 'deny', rule: `token:${token!.token_id}`, tier, reason: `the token's scopes do not include secrets:${action}:${namespace}/${key}` } };
    }
    const request = { agent: agent.compiled, action, namespace, key, approvedScopes };
    let scoped = checkScopes(request);
    let fromStore = false;
    if ('effect' in scoped && scoped.rule === 'default-deny') {
      const approved = await this.activeGrants(agent);
      if (approved.length) {
        scoped = checkScopes({ ...request, approvedScopes: [...approvedScopes, ...approved] });
        fromStore = true;
      }
    }
    if ('effect' in scoped) return { refusal: { ...scoped, tier: effectiveTier(this.current().policy, namespace, null) } };
    return { refusal: null, pass: Object.freeze({ agent, action, namespace, key, token, approvedScopes, scoped, fromStore }) };
  }

  /**
   * The full decision, for a secret of this stored tier (null: none stored). With `pass` (this
   * access's own `check`, made before the backend read) the scopes are not matched again; the
   * approvals are read here whenever the decision rests on one, so it is made on the approvals
   * current now, never on an earlier read's.
   */
  async decide(agent: AgentSettings, action: Action, namespace: string, key: string, tier: AccessTier | null, token?: TokenRestriction, pass?: EarlyPass): Promise<Decision> {
    // Security: a pass counts only for the access it was made for.
    if (pass && (pass.agent !== agent || pass.action !== action || pass.namespace !== namespace || pass.key !== key || pass.token !== token)) {
      throw new Error('an early check was used for another access');
    }
    // Allowed early through an approval read then: decide again on the approvals as they are now.
    if (!pass || pass.fromStore) {
      const early = await this.check(agent, action, namespace, key, token);
      if (early.refusal) return { ...early.refusal, tier: effectiveTier(this.current().policy, namespace, tier) };
      pass = early.pass;
    }
    const policy = this.current().policy;
    const request = { agent: agent.compiled, action, namespace, key, tier, approvedScopes: pass.approvedScopes };
    const first = evaluateScoped(request, pass.scoped, policy);
    if (first.effect !== 'require_approval') return first;
    const approved = await this.activeGrants(agent);
    return approved.length ? evaluate({ ...request, approvedScopes: [...pass.approvedScopes, ...approved] }, policy, this.clock()) : first;
  }

  private async activeGrants(agent: AgentSettings): Promise<Scope[]> {
    return (await this.approvals.activeGrantScopes(agent.config.id)).map(parseScope);
  }
}
