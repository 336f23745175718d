import type { Links } from './links.js';

/**
 * The words that send a human somewhere, shared by every answer that needs one. The command
 * carries `--config <path>` when the setup is not in the default place, so it works as typed.
 */

/** The APPROVAL_REQUIRED text: the seed's first sentences, then where a human decides. */
export function approvalRequiredMessage(approvalId: string, links: Links): string {
  const url = links.approval(approvalId);
  return (
    `Human approval required. Approval ID: ${approvalId}. Use get_approval_status to check progress, then retry. ` +
    `A human approves ${url ? `at ${url} or ` : ''}with \`${links.command(`approvals approve ${approvalId}`)}\`` +
    // No dashboard running yet: say how to get one, so the person can judge it in a browser.
    (url ? '.' : `, or in a browser after starting \`${links.command('dashboard')}\`.`)
  );
}
