import type { Approvals } from '../approvals/approvals.js';
import type { ToolName } from '../config/schema.js';
import { checkScopes, effectiveTier, evaluate, parseScope, scopeMatches, type Decision, type Scope } from '../policy/index.js';
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
   * explicit deny, or no grant and no approved scope. Returns the refusal, or null to go on.
   */
  async refuseEarly(agent: AgentSettings, action: Action, namespace: string, key: string, token?: TokenRestriction): Promise<Decision | null> {
    const { tokenScopes, approvedScopes } = restrictionScopes(token);
    const tier = effectiveTier(this.current().policy, namespace, null);
    if (tokenScopes && !tokenScopes.some((s) => scopeMatches(s, action, namespace, key))) {
      return { effect: 'deny', rule: `token:${token!.token_id}`, tier, reason: `the token's scopes do not include secrets:${action}:${namespace}/${key}` };
    }
    const request = { agent: agent.compiled, action, namespace, key, approvedScopes };
    let scoped = checkScopes(request);
    if ('effect' in scoped && scoped.rule === 'default-deny') {
      const approved = await this.activeGrants(agent);
      if (approved.length) scoped = checkScopes({ ...request, approvedScopes: [...approvedScopes, ...approved] });
    }
    return 'effect' in scoped ? { ...scoped, tier } : null;
  }

  /** The full decision, for a secret of this stored tier (null: none stored). */
  async decide(agent: AgentSettings, action: Action, namespace: string, key: string, tier: AccessTier | null, token?: TokenRestriction): Promise<Decision> {
    const early = await this.refuseEarly(agent, action, namespace, key, token);
    if (early) return { ...early, tier: effectiveTier(this.current().policy, namespace, tier) };
    const { approvedScopes } = restrictionScopes(token);
    const request = { agent: agent.compiled, action, namespace, key, tier, approvedScopes };
    const first = evaluate(request, this.current().policy, this.clock());
    if (first.effect !== 'require_approval') return first;
    const approved = await this.activeGrants(agent);
    return approved.length ? evaluate({ ...request, approvedScopes: [...approvedScopes, ...approved] }, this.current().policy, this.clock()) : first;
  }

  private async activeGrants(agent: AgentSettings): Promise<Scope[]> {
    return (await this.approvals.activeGrantScopes(agent.config.id)).map(parseScope);
  }
}
