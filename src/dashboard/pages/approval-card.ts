import type { ApprovalDetails, HumanApprovalStatus } from '../../server/approval-details.js';
import { html, hrefSegments, type SafeHtml } from '../html.js';
import { BASE, csrfField, relative, when } from '../layout.js';

/**
 * One approval request as a person judges it: who asks, for what (scopes as requested and the
 * secrets they reach now, by name and tier), for how long, why (the agent's own words, shown as
 * inert, unverified text), the quorum and any delay; with Approve / Deny / Cancel forms that
 * the shipped script confirms before sending. Everything from the agent is escaped by `html`.
 */

export const STATUS_TEXT: Record<HumanApprovalStatus, string> = {
  pending: 'Pending',
  approved: 'Approved',
  denied: 'Denied',
  expired: 'Expired',
  cancelled: 'Cancelled',
  revoked: 'Revoked',
};

export function statusBadge(status: HumanApprovalStatus): SafeHtml {
  return html`<span class="badge badge-${status}">${STATUS_TEXT[status]}</span>`;
}

function reaches(d: ApprovalDetails): SafeHtml {
  const r = d.reaches;
  if (r.error) return html`<p class="warn">${r.error}</p>`;
  if (r.total === 0) return html`<p>No stored secret matches these scopes yet.</p>`;
  return html`<ul class="reach">${r.secrets.map((s) => html`<li><a href="${BASE}/secrets/${hrefSegments(...s.namespace.split('/'), s.key)}"><code>${s.namespace}/${s.key}</code></a> <span class="tier tier-${s.access_tier}">${s.access_tier}</span></li>`)}</ul>
${r.truncated ? html`<p class="help">${r.total}${r.total >= 1000 ? '+' : ''} secrets in all; the first ${r.secrets.length} are listed.</p>` : ''}`;
}

function actions(d: ApprovalDetails, csrf: string, adminId: string): SafeHtml {
  const target = `${d.agent_id}: ${d.scopes.join(' ')}`;
  const act = (verb: 'approve' | 'deny' | 'cancel', label: string, question: string, cls: string) =>
    html`<form method="post" action="${BASE}/approvals/${encodeURIComponent(d.id)}/${verb}" data-confirm="${question}" data-confirm-yes="Yes, ${verb}">${csrfField(csrf)}<button type="submit" class="${cls}">${label}</button></form>`;
  if (d.delay_remaining_ms !== null) {
    return html`<div class="actions">${act('cancel', 'Cancel', `Cancel the approval of ${target}? It will not take effect.`, 'danger')}</div>`;
  }
  if (d.status !== 'pending') return html``;
  const mine = d.approvals.some((a) => a.admin_id === adminId);
  return html`<div class="actions">${mine ? html`<p class="help">You approved this; it needs ${d.approvals_required - d.approvals.length} more approver(s).</p>` : act('approve', 'Approve', `Approve ${target} for ${d.ttl}?`, 'primary')}${act('deny', 'Deny', `Deny ${target}?`, 'danger')}</div>`;
}

export function approvalCard(d: ApprovalDetails, now: Date, session: { csrf: string; adminId: string }, options: { heading: 'h2' | 'h3'; link: boolean }): SafeHtml {
  const titleId = `req-${d.id}`;
  const heading = html`<span class="agent">${d.agent_id}</span> <span class="kind">${d.kind === 'token' ? 'asks for a token' : 'asks for secret access'}</span> ${statusBadge(d.status)}`;
  return html`<article class="request" aria-labelledby="${titleId}">
${options.heading === 'h2' ? html`<h2 id="${titleId}">${heading}</h2>` : html`<h3 id="${titleId}">${heading}</h3>`}
<dl class="facts">
<dt>Agent</dt><dd><code>${d.agent_id}</code>${d.on_behalf_of ? html` <span class="muted">for <code>${d.on_behalf_of}</code></span>` : ''}</dd>
${d.on_behalf_of === `admin:${session.adminId}` ? html`<dt>You</dt><dd><p class="warn">This app acts for you: you signed it in. Approving here approves your own app’s request; ask another admin to judge it if you can.</p></dd>` : ''}
<dt>Scopes</dt><dd><ul class="scopes">${d.scopes.map((s) => html`<li><code>${s}</code></li>`)}</ul></dd>
<dt>Reaches now</dt><dd>${reaches(d)}</dd>
<dt>For</dt><dd>${d.ttl}${d.max_uses !== null ? html`, at most ${d.max_uses} use(s)` : ''}</dd>
<dt>Agent’s reason</dt><dd>${d.agent_reason === null ? html`<span class="muted">none given</span>` : html`<blockquote class="agent-reason">${d.agent_reason}</blockquote><span class="help">In the agent’s own words: unverified.</span>`}</dd>
<dt>Why a human</dt><dd>${d.server_reason} <span class="muted">(rule <code>${d.rule}</code>)</span></dd>
<dt>Requested</dt><dd>${when(d.requested_at, now)}</dd>
<dt>${d.status === 'pending' ? 'Expires' : 'Ends'}</dt><dd>${when(d.expires_at, now)}</dd>
<dt>Approvals</dt><dd>${d.approvals.length} of ${d.approvals_required}${d.approvals.length ? html` (${d.approvals.map((a) => a.admin_id).join(', ')})` : ''}</dd>
${d.delay_remaining_ms !== null ? html`<dt>Delay</dt><dd>Takes effect ${relative(d.delay_remaining_ms)} unless cancelled</dd>` : ''}
${d.decided_by && d.status !== 'pending' ? html`<dt>Decided by</dt><dd>${d.decided_by}${d.resolved_at ? html`, ${when(d.resolved_at, now)}` : ''}</dd>` : ''}
<dt>Request id</dt><dd><code class="id">${d.id}</code></dd>
</dl>
${actions(d, session.csrf, session.adminId)}
${options.link ? html`<p><a href="${BASE}/approvals/${encodeURIComponent(d.id)}">Open this request’s page<span class="visually-hidden"> (${d.agent_id})</span></a></p>` : ''}
</article>`;
}
