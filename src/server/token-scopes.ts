/**
 * What `request_token` accepts as scopes, checked before anything is issued or a human is
 * asked: bounded in number and length, parsed by the one scope parser, never delete or rotate
 * (human-only), and never a scope the agent is explicitly denied (such a token could not be
 * used for it anyway, so it must not say it can).
 */
import { checkScopeBounds } from '../approvals/limits.js';
import { canonicalScopes, parseScope, scopeCovers, type Scope } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import type { Action } from '../shared/types.js';
import type { AgentSettings } from './settings.js';

/** What a token can carry (delete and rotate are human-only). */
const TOKEN_ACTIONS: readonly Action[] = ['read', 'write', 'list', 'use'];

/**
 * Canonical, parsed scopes of a token request.
 * @throws AssError INVALID_ARGUMENT (bounds, grammar, human-only actions) or POLICY_DENIED
 * (a scope inside one of the agent's deny rules; `namespaces:read` never is).
 */
export function tokenRequestScopes(agent: AgentSettings, requested: readonly string[]): { scopes: string[]; parsed: Scope[] } {
  checkScopeBounds(requested);
  const scopes = canonicalScopes([...requested]);
  const parsed = scopes.map(parseScope);
  for (const scope of parsed) {
    if (scope.action === 'delete' || scope.action === 'rotate') {
      throw new AssError('INVALID_ARGUMENT', `'${scope.text}': delete and rotate are human-only; no token can carry them.`, { human_only_scope: true });
    }
    // `namespaces:read` reaches no secret (its answer is filtered by the deny rules), so no
    // secret deny can cover it.
    if (scope.resource === 'namespaces') continue;
    // Security: a deny wins over any grant or approval, so a token (or a human's approval) for
    // a denied scope would promise what the policy refuses.
    // A `*` scope carries read, write and list: denied if any of them is denied on all of it.
    const carried = scope.action === '*' ? TOKEN_ACTIONS.map((action) => ({ ...scope, action })) : [scope];
    const denial = agent.compiled.deny.find((d) => carried.some((c) => scopeCovers(d, c)));
    if (denial) {
      throw new AssError('POLICY_DENIED', `'${scope.text}' is denied to this agent by ${denial.text}; no token can carry it. Ask only for scopes outside the agent's deny rules.`);
    }
  }
  return { scopes, parsed };
}
