import type { ApprovalDetails } from '../server/approval-details.js';
import { terminalBlock, terminalLine } from './terminal-text.js';

/**
 * `approvals show|approve|deny`: everything describeApproval gives, as lines for a terminal.
 * Agent ids, scopes, secret names and above all the agent's reason are untrusted: every one
 * goes through terminalLine/terminalBlock.
 */

/** `1h 5m`, `4m 10s`, `12s` — for "expires in" and "delay left". */
export function humanDuration(ms: number): string {
  if (ms <= 0) return 'now';
  const s = Math.ceil(ms / 1000);
  const parts: [number, string][] = [[Math.floor(s / 86_400), 'd'], [Math.floor((s % 86_400) / 3600), 'h'], [Math.floor((s % 3600) / 60), 'm'], [s % 60, 's']];
  return parts.filter(([n]) => n > 0).slice(0, 2).map(([n, u]) => `${n}${u}`).join(' ');
}

export function approvalReport(d: ApprovalDetails, now: Date, url: string | null): string {
  const t = now.getTime();
  const expiresIn = Date.parse(d.expires_at) - t;
  const reach = d.reaches;
  const lines = [
    `Approval request ${d.id}  [${d.status}]`,
    `  agent:        ${terminalLine(d.agent_id)}`,
    `  kind:         ${d.kind === 'token' ? 'a scoped token (request_token)' : 'access to a secret'}`,
    `  scopes:       ${d.scopes.map(terminalLine).join('\n                ')}`,
    `  reaches now:  ${reach.error ? reach.error : reach.total === 0 ? 'no secret that exists today' : `${reach.total}${reach.truncated && reach.total > reach.secrets.length ? '+' : ''} secret(s)`}`,
    ...reach.secrets.map((s) => `                  ${terminalLine(`${s.namespace}/${s.key}`)} (${s.access_tier})`),
    ...(reach.truncated && !reach.error && reach.total > reach.secrets.length ? [`                  … and ${reach.total - reach.secrets.length} more`] : []),
    `  ttl:          ${d.ttl}`,
    `  max uses:     ${d.max_uses ?? 'no limit'}`,
    `  agent's reason (the agent wrote this; it is not verified):`,
    `                ${d.agent_reason === null ? '(none given)' : terminalBlock(d.agent_reason, '                ')}`,
    `  asked by:     ${terminalLine(d.server_reason)}`,
    `  requested at: ${d.requested_at}`,
    d.status === 'pending' && d.delay_remaining_ms === null
      ? `  expires in:   ${humanDuration(expiresIn)} (${d.expires_at})`
      : `  ${d.status === 'approved' || d.delay_remaining_ms !== null ? 'grant ends:   ' : 'expires at:   '}${d.expires_at}`,
    `  quorum:       ${d.approvals.length} of ${d.approvals_required} approval(s)${d.approvals.length ? ` (${d.approvals.map((a) => terminalLine(a.admin_id)).join(', ')})` : ''}`,
    ...(d.delay_remaining_ms !== null ? [`  delay left:   ${humanDuration(d.delay_remaining_ms)} (takes effect at ${d.effective_at}; \`approvals deny\` cancels it until then)`] : []),
    ...(d.decided_by ? [`  decided by:   ${terminalLine(d.decided_by)}${d.resolved_at ? ` at ${d.resolved_at}` : ''}`] : []),
    ...(url ? [`  page:         ${url}`] : []),
  ];
  return lines.join('\n');
}
