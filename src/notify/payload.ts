import type { ApprovalEvent, ApprovalEventType } from '../shared/approval-events.js';
import { plainText, slackEscape } from './untrusted-text.js';

/**
 * The two webhook bodies. Both carry the deep link to the request's page (when a dashboard
 * address is known) and the CLI command; neither ever carries a value, a key or a token.
 */

export interface PayloadLinks {
  /** The request's page, or null when no dashboard address is known. */
  approvalUrl: string | null;
  /** `agent-secret-store [--config …] approvals show <id>`. */
  showCommand: string;
}

const HEADLINE: Record<ApprovalEventType, string> = {
  'approval.requested': 'An agent is waiting for approval',
  'approval.granted': 'Approval granted',
  'approval.denied': 'Approval denied',
  'approval.expired': 'Approval request expired unanswered',
  'approval.cancelled': 'Approval cancelled during its delay',
};

const ttlText = (ms: number): string => (ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : ms % 60_000 === 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);

/** The generic JSON body (signed by the caller). */
export function genericPayload(event: ApprovalEvent, links: PayloadLinks): Record<string, unknown> {
  const a = event.approval;
  return {
    id: event.id,
    type: event.type,
    created_at: event.at,
    approval: {
      id: a.id,
      kind: a.kind,
      agent_id: a.agent_id,
      scopes: a.scopes,
      ttl: ttlText(a.ttl_ms),
      max_uses: a.max_uses,
      // Untrusted: the agent wrote it. Receivers must render it as text.
      agent_reason: a.agent_reason,
      server_reason: a.server_reason,
      requested_at: a.requested_at,
      expires_at: a.expires_at,
      approvals_received: a.approvals_received,
      approvals_required: a.approvals_required,
      effective_at: a.effective_at,
      decided_by: a.decided_by,
    },
    url: links.approvalUrl,
    cli: links.showCommand,
  };
}

/**
 * A Slack incoming-webhook body: a mrkdwn summary of trusted facts (escaped anyway), and the
 * agent's reason in a `plain_text` block, which Slack never parses for markup or mentions.
 */
export function slackPayload(event: ApprovalEvent, links: PayloadLinks): Record<string, unknown> {
  const a = event.approval;
  const link = links.approvalUrl ? ` <${links.approvalUrl.replace(/[<>|]/g, encodeURIComponent)}|Open the request>` : '';
  const facts = [
    `*${HEADLINE[event.type]}*${link}`,
    `Agent: \`${slackEscape(a.agent_id)}\``,
    `Scopes: ${a.scopes.map((s) => `\`${slackEscape(s)}\``).join(', ')}`,
    `For: ${ttlText(a.ttl_ms)}${a.max_uses !== null ? `, at most ${a.max_uses} uses` : ''} · approvals ${a.approvals_received}/${a.approvals_required}`,
    ...(a.decided_by ? [`Decided by: ${slackEscape(a.decided_by)}`] : []),
    `Request: \`${a.id}\` · CLI: \`${slackEscape(links.showCommand)}\``,
  ].join('\n');
  const blocks: Record<string, unknown>[] = [{ type: 'section', text: { type: 'mrkdwn', text: facts } }];
  if (a.agent_reason) {
    blocks.push({ type: 'context', elements: [{ type: 'plain_text', text: `The agent says: ${plainText(a.agent_reason, 2900)}`, emoji: false }] });
  }
  return { text: `${HEADLINE[event.type]}: agent ${slackEscape(a.agent_id)}, ${a.scopes.map(slackEscape).join(' ')}${link}`, blocks };
}
