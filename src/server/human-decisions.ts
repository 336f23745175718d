import type { ApprovalRecord } from '../approvals/types.js';
import type { ApprovalView } from '../approvals/approvals.js';
import { AssError, isAssError } from '../shared/errors.js';
import type { Runtime } from './runtime.js';

/** Where a human acted from; recorded in the audit reason. */
export type HumanSurface = 'cli' | 'rest' | 'dashboard';

/**
 * The admin who acts: `adminId` is who they are for every rule (an approval's distinct approvers,
 * `denied_by`): a configured admin's id, or `oidc:<sub>` for a person the identity provider made an
 * admin (auth.oidc.admins_group). `label` is that person's email or name, named in the audit only:
 * it is what the provider said (the person may choose it), never an identity, shown as inert text.
 */
export interface HumanAdmin {
  adminId: string;
  label?: string;
}

/** How audit records name the admin: `admin:alice`, or `admin:oidc:248289761001 (jane@example.com)`. */
export function adminActor(who: HumanAdmin): string {
  return who.label ? `admin:${who.adminId} (${who.label})` : `admin:${who.adminId}`;
}

/**
 * A human approves, denies or cancels a request, from the CLI, REST or the dashboard. The audit
 * record is written before the decision takes effect (fail closed: no record, no approval); if
 * the decision then fails (already decided, expired), a second record says so.
 * `cancel` is a deny that only applies to an approval still waiting out its delay.
 */
export async function decideApproval(
  runtime: Runtime,
  input: { verb: 'approve' | 'deny' | 'cancel'; id: string; via: HumanSurface } & HumanAdmin,
): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
  const started = performance.now();
  const { approval, view } = await runtime.approvals.find(input.id);
  if (input.verb === 'cancel' && !(approval.status === 'approved' && view.status === 'pending')) {
    throw new AssError('CONFLICT', `Approval ${input.id} is not waiting out a delay, so there is nothing to cancel; deny it instead if it is pending.`);
  }
  const actor = adminActor(input);
  const action = `approvals.${input.verb}`;
  const completes = approval.approvals.length + 1 >= approval.approvers_required;
  const outcome = input.verb !== 'approve' ? 'approval_denied' : completes ? 'approval_granted' : 'approval_partial';
  const reason = `agent ${approval.agent_id}: ${approval.scopes.join(' ')} (${input.via})`;
  await runtime.audit.append({ actor, action, outcome, approval_id: input.id, reason, latency_ms: performance.now() - started });
  try {
    return input.verb === 'approve' ? await runtime.approvals.approve(input.id, input.adminId) : await runtime.approvals.deny(input.id, input.adminId);
  } catch (error) {
    await runtime.audit
      .append({ actor, action, outcome: 'error', approval_id: input.id, error_code: isAssError(error) ? error.code : 'INTERNAL', latency_ms: performance.now() - started })
      .catch(() => undefined);
    throw error;
  }
}
