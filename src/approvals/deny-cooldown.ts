import { formatTtl } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import type { State } from './state-store.js';
import type { ApprovalRecord } from './types.js';

/**
 * Approval hygiene: after a human said no, the same agent asking again for the same scopes
 * within the cooldown gets that answer again instead of a new request, so a looping agent
 * cannot keep a human busy. A cancellation (during a delay) counts as a no; a revocation does
 * not matter here (the revoked key cannot ask at all).
 */
export function refuseWithinCooldown(
  state: State,
  input: { agentId: string; scopes: string[] },
  now: Date,
  cooldownMs: number,
): void {
  if (cooldownMs <= 0) return;
  const t = now.getTime();
  let latest: ApprovalRecord | undefined;
  for (const a of Object.values(state.approvals)) {
    if (a.agent_id !== input.agentId || a.status !== 'denied' || a.revoked || !a.resolved_at) continue;
    // Same scopes whatever the ttl, max_uses or kind: changing those must not get round a no.
    if (a.scopes.length !== input.scopes.length || !a.scopes.every((s, i) => s === input.scopes[i])) continue;
    if (t - Date.parse(a.resolved_at) >= cooldownMs) continue;
    if (!latest || a.resolved_at > latest.resolved_at!) latest = a;
  }
  if (!latest) return;
  const again = new Date(Date.parse(latest.resolved_at!) + cooldownMs);
  throw new AssError(
    'POLICY_DENIED',
    `A human denied this request (approval ${latest.id}) at ${latest.resolved_at}. ` +
      `The same request is refused until ${again.toISOString()} (in ${formatTtl(Math.ceil((again.getTime() - t) / 1000) * 1000)}); ask the human before trying again.`,
    { approval_id: latest.id, retry_after: again.toISOString() },
  );
}
