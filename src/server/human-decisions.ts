import type { ApprovalRecord } from '../approvals/types.js';
import type { ApprovalView } from '../approvals/approvals.js';
import { isAssError } from '../shared/errors.js';
import type { Runtime } from './runtime.js';

/**
 * A human approves or denies a request, from the CLI or over REST. The audit record is written
 * before the decision takes effect (fail closed: no record, no approval); if the decision then
 * fails (already decided, expired), a second record says so.
 */
export async function decideApproval(
  runtime: Runtime,
  input: { verb: 'approve' | 'deny'; id: string; adminId: string; via: 'cli' | 'rest' },
): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
  const started = performance.now();
  const { approval } = await runtime.approvals.find(input.id);
  const actor = `admin:${input.adminId}`;
  const action = `approvals.${input.verb}`;
  const completes = approval.approvals.length + 1 >= approval.approvers_required;
  const outcome = input.verb === 'deny' ? 'approval_denied' : completes ? 'approval_granted' : 'approval_partial';
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
