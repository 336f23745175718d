import { formatTtl } from '../policy/index.js';
import { AssError } from '../shared/errors.js';
import type { ApprovalRecord } from './types.js';

/**
 * Approval hygiene: after a human said no, the same agent asking again for the same scopes
 * within the cooldown gets that answer again instead of a new request, so a looping agent
 * cannot keep a human busy. The state store finds the denial inside its transaction
 * (src/state/rules.ts, findCooldownDenial); this is the answer the agent gets.
 */
export function cooldownRefusal(latest: ApprovalRecord, now: Date, cooldownMs: number): AssError {
  const again = new Date(Date.parse(latest.resolved_at!) + cooldownMs);
  return new AssError(
    'POLICY_DENIED',
    `A human denied this request (approval ${latest.id}) at ${latest.resolved_at}. ` +
      `The same request is refused until ${again.toISOString()} (in ${formatTtl(Math.ceil((again.getTime() - now.getTime()) / 1000) * 1000)}); ask the human before trying again.`,
    { approval_id: latest.id, retry_after: again.toISOString() },
  );
}
