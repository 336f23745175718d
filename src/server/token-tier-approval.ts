/**
 * Approval at token time, as the hosted product decides it: "approval requirements are derived
 * from the highest access tier matched by the requested scopes". When an agent's grants cover
 * the scopes it asks a token for, this looks at the secrets those scopes reach now (and, for a
 * scope naming one secret that does not exist yet, its namespace's default tier) and asks the
 * policy engine about each. If any needs a human, the token is not issued: the caller opens a
 * token approval instead, with the strictest rule met, and the same request returns the token
 * once a human approved it. Reads with a token keep every check they have.
 *
 * Read-only: it lists what the backend holds (names and tiers, never values).
 */
import type { SecretBackend } from '../adapters/backend.js';
import type { Approvals } from '../approvals/approvals.js';
import { ACCESS_TIERS, type AccessTier, type Action, type Clock } from '../shared/types.js';
import { evaluate, isValidPath, parseScope, scopeCouldMatchIn, scopeMatches, type Scope } from '../policy/index.js';
import type { AgentSettings, Settings } from './settings.js';

/** What a token must wait for: the rule that asked, the strictest approvers and delay, the highest tier. */
export interface TokenTierNeed {
  rule: string;
  approvers: number;
  delayMs: number;
  tier: AccessTier;
}

interface Deps {
  settings: Settings;
  backend: SecretBackend;
  approvals: Approvals;
  clock: Clock;
}

/** The actions of a scope that reach secret values (list never needs a human). */
function valueActions(scope: Scope): Action[] {
  if (scope.resource !== 'secrets') return [];
  if (scope.action === '*') return ['read', 'write'];
  return scope.action === 'read' || scope.action === 'write' ? [scope.action] : [];
}

/** Secrets a scope reaches now, with their stored tiers; an exact path that does not exist counts with its namespace default. */
async function reached(backend: SecretBackend, scope: Scope, action: Action, namespaces: readonly string[]): Promise<Array<{ namespace: string; key: string; tier: AccessTier | null }>> {
  const out: Array<{ namespace: string; key: string; tier: AccessTier | null }> = [];
  for (const namespace of namespaces.filter((ns) => scopeCouldMatchIn(scope, action, ns))) {
    for (const s of await backend.list(namespace)) {
      if (scopeMatches(scope, action, namespace, s.key)) out.push({ namespace, key: s.key, tier: s.access_tier });
    }
  }
  const exact = !scope.segments.some((s) => s === '*' || s === '**');
  if (exact && scope.segments.length >= 2 && out.length === 0) {
    const namespace = scope.segments.slice(0, -1).join('/');
    const key = scope.segments[scope.segments.length - 1]!;
    if (isValidPath(namespace, key)) out.push({ namespace, key, tier: null });
  }
  return out;
}

/**
 * Null when the scopes reach nothing that needs a human (the token may be issued at once);
 * else the strictest need among the secrets reached.
 */
export async function tokenTierApproval(deps: Deps, agent: AgentSettings, scopes: readonly Scope[]): Promise<TokenTierNeed | null> {
  const valueScopes = scopes.filter((s) => valueActions(s).length > 0);
  if (valueScopes.length === 0) return null;
  const namespaces = await deps.backend.listNamespaces();
  // A grant a human already gave for a secret counts here as it does at read time.
  const approvedScopes = (await deps.approvals.activeGrantScopes(agent.config.id)).map(parseScope);
  let need = null as TokenTierNeed | null;
  for (const scope of valueScopes) {
    for (const action of valueActions(scope)) {
      for (const target of await reached(deps.backend, scope, action, namespaces)) {
        const decision = evaluate({ agent: agent.compiled, action, ...target, approvedScopes }, deps.settings.policy, deps.clock());
        if (decision.effect !== 'require_approval') continue;
        const approval = decision.approval ?? { approvers: 1, delayMs: 0 };
        need = {
          rule: need && rank(need.tier) > rank(decision.tier) ? need.rule : decision.rule,
          approvers: Math.max(need?.approvers ?? 1, approval.approvers),
          delayMs: Math.max(need?.delayMs ?? 0, approval.delayMs),
          tier: need && rank(need.tier) > rank(decision.tier) ? need.tier : decision.tier,
        };
      }
    }
  }
  return need;
}

const rank = (tier: AccessTier): number => ACCESS_TIERS.indexOf(tier);
