import type { Hono } from 'hono';
import { z } from 'zod';
import { humanAddAgent, humanRevokeAgent, mcpServersSnippet } from '../../server/human-agents.js';
import { pgLastActivity } from '../../audit/pg-audit-view.js';
import { pgAuditReader } from '../../server/postgres-setup.js';
import { AssError } from '../../shared/errors.js';
import { lastActivity } from '../audit-reader.js';
import { doneNotice, sendPage, type DashboardDeps, type DashboardEnv } from '../context.js';
import { actingAdmin } from '../sessions.js';
import { html } from '../html.js';
import { BASE, csrfField, when } from '../layout.js';

/**
 * Agents: grants, denies, tools and last activity; add one (its key shown once, with a ready
 * `mcpServers` snippet) and revoke one, through src/server/human-agents.ts as the CLI does.
 */

const lines = (text: unknown): string[] => (typeof text === 'string' ? text.split(/[\r\n]+/).map((s) => s.trim()).filter(Boolean) : []);
const AddSchema = z.object({ id: z.string().trim().min(1, 'give the agent an id'), grants: z.string().optional(), deny: z.string().optional(), max_token_ttl: z.string().trim().min(1).default('24h') });

export function registerAgents(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(`${BASE}/agents`, async (c) => {
    const session = c.get('session');
    const settings = deps.settings();
    const now = deps.runtime.clock();
    const agents = settings.config.agents;
    const db = pgAuditReader(settings);
    const activity = db ? await pgLastActivity(db, agents.map((a) => a.id)) : await lastActivity(settings.auditPath);
    const body = html`<section aria-labelledby="agents-title"><h2 id="agents-title">Agents <span class="count">${agents.length}</span></h2>
${agents.length === 0
  ? html`<div class="empty"><p><strong>No agents yet.</strong></p><p>Add one below: you get its key once, with the <code>mcpServers</code> entry to paste into Claude Desktop or Cursor.</p></div>`
  : html`<ul class="agents">${agents.map((a) => {
      const seen = activity.get(a.id);
      return html`<li><article class="agent-card" aria-labelledby="agent-${a.id}"><h3 id="agent-${a.id}"><code>${a.id}</code></h3>
<dl class="facts"><dt>Grants</dt><dd>${a.grants.length ? html`<ul class="scopes">${a.grants.map((g) => html`<li><code>${g}</code></li>`)}</ul>` : html`<span class="muted">none: it can do nothing yet</span>`}</dd>
<dt>Denies</dt><dd>${a.deny.length ? html`<ul class="scopes">${a.deny.map((g) => html`<li><code>${g}</code></li>`)}</ul>` : html`<span class="muted">none</span>`}</dd>
<dt>Tools</dt><dd>${a.tools ? a.tools.join(', ') : 'all'}</dd>
<dt>Longest token</dt><dd>${a.limits.max_token_ttl}</dd>
<dt>Last activity</dt><dd>${seen ? when(seen, now) : html`<span class="muted">none recorded</span>`}</dd></dl>
<form method="post" action="${BASE}/agents/${encodeURIComponent(a.id)}/revoke" data-confirm="Revoke agent ${a.id}? Its key, tokens and approvals stop working at once, also in running servers." data-confirm-yes="Yes, revoke">${csrfField(session.csrf)}<button type="submit" class="danger">Revoke<span class="visually-hidden"> ${a.id}</span></button></form>
</article></li>`;
    })}</ul>`}
</section>
<section class="card" aria-labelledby="add-agent-title"><h2 id="add-agent-title">Add an agent</h2>
<form method="post" action="${BASE}/agents">${csrfField(session.csrf)}
<div class="grid">
<p><label for="agent-id">Agent id</label><input id="agent-id" name="id" required autocomplete="off" spellcheck="false" placeholder="billing-bot"></p>
<p><label for="agent-ttl">Longest token</label><input id="agent-ttl" name="max_token_ttl" value="24h" required spellcheck="false"></p>
<p class="wide"><label for="agent-grants">Grants, one scope a line</label><textarea id="agent-grants" name="grants" rows="3" spellcheck="false" placeholder="secrets:read:production/gemini/*"></textarea></p>
<p class="wide"><label for="agent-deny">Denies, one scope a line</label><textarea id="agent-deny" name="deny" rows="2" spellcheck="false"></textarea></p>
</div>
<button type="submit" class="primary">Add agent</button>
</form></section>`;
    return sendPage(c, { title: 'Agents', section: 'agents', body, notice: doneNotice(c) });
  });

  app.post(`${BASE}/agents`, async (c) => {
    const raw = await c.req.parseBody();
    const parsed = AddSchema.safeParse(raw);
    if (!parsed.success) throw new AssError('INVALID_ARGUMENT', `Check the form: ${parsed.error.issues.map((i) => i.message).join('; ')}.`);
    const input = parsed.data;
    const added = await humanAddAgent(deps.runtime, { ...actingAdmin(c.get('session')), via: 'dashboard' }, {
      id: input.id, grants: lines(input.grants), deny: lines(input.deny), maxTokenTtl: input.max_token_ttl,
    });
    const snippet = mcpServersSnippet(added.settings, added.agentKey, deps.command);
    const body = html`<p><a href="${BASE}/agents">← All agents</a></p>
<section class="card" aria-labelledby="key-title"><h2 id="key-title">Agent <code>${added.agentId}</code> added</h2>
<p><strong>Its key is shown once.</strong> Store it now; only its hash is kept.</p>
<p class="help">Stdio servers (one per client session) know the agent at once; a <code>serve --http</code> started before now learns it when restarted.</p>
<label for="new-key">Agent key</label><input id="new-key" readonly value="${added.agentKey}" spellcheck="false">
<label for="snippet">mcpServers entry (Claude Desktop, Cursor)</label><textarea id="snippet" readonly rows="12" spellcheck="false">${snippet}</textarea>
</section>`;
    return sendPage(c, { title: 'Agent added', section: 'agents', body });
  });

  app.post(`${BASE}/agents/:id/revoke`, async (c) => {
    await humanRevokeAgent(deps.runtime, { ...actingAdmin(c.get('session')), via: 'dashboard' }, c.req.param('id'), deps.settings());
    return c.redirect(`${BASE}/agents?done=revoked`, 303);
  });
}
