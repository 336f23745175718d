import type { Hono } from 'hono';
import { describeApproval, findApproval, humanStatus } from '../../server/approval-details.js';
import { decideApproval } from '../../server/human-decisions.js';
import { doneNotice, sendPage, type DashboardDeps, type DashboardEnv } from '../context.js';
import { actingAdmin } from '../sessions.js';
import { html } from '../html.js';
import { BASE, when } from '../layout.js';
import { approvalCard, statusBadge } from './approval-card.js';

/**
 * The approvals page (pending requests, live, and recent decisions), each request's own page
 * (`/dashboard/approvals/<id or prefix of 6+>`), and the three decisions, which go through the
 * one `decideApproval` the CLI and REST use.
 */

const RECENT = 20;

export function registerApprovals(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(BASE, (c) => c.redirect(`${BASE}/approvals`, 303));
  app.get(`${BASE}/`, (c) => c.redirect(`${BASE}/approvals`, 303));

  app.get(`${BASE}/approvals`, async (c) => {
    const session = c.get('session');
    const now = deps.runtime.clock();
    const all = (await deps.runtime.approvals.list()).map(({ approval }) => approval);
    const pending = all.filter((a) => humanStatus(a, now) === 'pending');
    const details = await Promise.all(pending.map((a) => describeApproval(deps.runtime, a)));
    const decided = all
      .filter((a) => humanStatus(a, now) !== 'pending')
      .sort((a, b) => (b.resolved_at ?? b.expires_at).localeCompare(a.resolved_at ?? a.expires_at))
      .slice(0, RECENT);
    const body = html`<section aria-labelledby="pending-title">
<h2 id="pending-title">Waiting for you <span class="count">${pending.length}</span></h2>
${details.length === 0
  ? html`<div class="empty"><p><strong>No request is waiting.</strong></p><p>When an agent asks for a secret or a token that needs a human, it appears here at once, without reloading. Agents get an approval id and wait; you can also use <code>agent-secret-store approvals list</code>.</p></div>`
  : html`<ul class="requests">${details.map((d) => html`<li>${approvalCard(d, now, session, { heading: 'h3', link: true })}</li>`)}</ul>`}
</section>
<section aria-labelledby="recent-title">
<h2 id="recent-title">Recent decisions</h2>
${decided.length === 0
  ? html`<p class="muted">Nothing decided yet.</p>`
  : html`<div class="table-wrap"><table><caption class="visually-hidden">Recent decisions, newest first</caption>
<thead><tr><th scope="col">Status</th><th scope="col">Agent</th><th scope="col">Scopes</th><th scope="col">Decided by</th><th scope="col">When</th></tr></thead>
<tbody>${decided.map((a) => {
  const status = humanStatus(a, now);
  const by = status === 'expired' ? 'nobody (expired)' : a.status === 'denied' ? (a.denied_by ?? '') : a.approvals.map((x) => x.admin_id).join(', ');
  return html`<tr><td data-label="Status">${statusBadge(status)}</td><td data-label="Agent"><a href="${BASE}/approvals/${encodeURIComponent(a.id)}"><code>${a.agent_id}</code></a></td><td data-label="Scopes">${a.scopes.map((s) => html`<code>${s}</code> `)}</td><td data-label="Decided by">${by}</td><td data-label="When">${when(a.resolved_at ?? a.expires_at, now)}</td></tr>`;
})}</tbody></table></div>`}
</section>`;
    return sendPage(c, { title: 'Approvals', section: 'approvals', live: true, body, notice: doneNotice(c) });
  });

  app.get(`${BASE}/approvals/:id`, async (c) => {
    const approval = await findApproval(deps.runtime, c.req.param('id'));
    const details = await describeApproval(deps.runtime, approval);
    const now = deps.runtime.clock();
    const body = html`<p><a href="${BASE}/approvals">← All requests</a></p>${approvalCard(details, now, c.get('session'), { heading: 'h2', link: false })}`;
    return sendPage(c, { title: `Request from ${details.agent_id}`, section: 'approvals', live: true, body, notice: doneNotice(c) });
  });

  for (const verb of ['approve', 'deny', 'cancel'] as const) {
    app.post(`${BASE}/approvals/:id/${verb}`, async (c) => {
      const session = c.get('session');
      const approval = await findApproval(deps.runtime, c.req.param('id'));
      const result = await decideApproval(deps.runtime, { verb, id: approval.id, ...actingAdmin(session), via: 'dashboard' });
      const done = verb === 'deny' ? 'denied' : verb === 'cancel' ? 'cancelled' : result.view.status === 'approved' ? 'approved' : result.view.effective_at ? 'approved_delayed' : 'approval_recorded';
      return c.redirect(`${BASE}/approvals/${encodeURIComponent(approval.id)}?done=${done}`, 303);
    });
  }
}
