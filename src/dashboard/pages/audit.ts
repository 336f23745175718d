import type { Hono } from 'hono';
import { z } from 'zod';
import { readAuditKey } from '../../audit/audit-key.js';
import { IncrementalAuditVerifier } from '../../audit/incremental-verify.js';
import { AssError } from '../../shared/errors.js';
import { readAuditRecords, type AuditFilter } from '../audit-reader.js';
import { sendPage, type DashboardDeps, type DashboardEnv } from '../context.js';
import { html } from '../html.js';
import { BASE } from '../layout.js';

/** The audit log, newest first, filtered by agent, action, outcome and time; and the chain's verification. */

const LIMIT = 200;
const FilterSchema = z.object({
  agent: z.string().max(64).optional(),
  action: z.string().max(64).optional(),
  outcome: z.string().max(64).optional(),
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

/** `datetime-local` (no zone, read as UTC) or ISO → ISO, or undefined when empty. */
function isoOrUndefined(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  const t = Date.parse(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`);
  if (Number.isNaN(t)) throw new AssError('INVALID_ARGUMENT', `'${name}' is not a date and time.`);
  return new Date(t).toISOString();
}

export function registerAudit(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  // The chain's status is cached per dashboard and checked from where it stopped (a long log
  // is not re-read at each view); the records shown are read backwards from the end.
  const verifier = new IncrementalAuditVerifier();
  app.get(`${BASE}/audit`, async (c) => {
    const q = FilterSchema.safeParse(c.req.query());
    if (!q.success) throw new AssError('INVALID_ARGUMENT', 'A filter is too long.');
    const filter: AuditFilter = {
      ...(q.data.agent ? { agent: q.data.agent } : {}),
      ...(q.data.action ? { action: q.data.action } : {}),
      ...(q.data.outcome ? { outcome: q.data.outcome } : {}),
    };
    const from = isoOrUndefined(q.data.from, 'from');
    const to = isoOrUndefined(q.data.to, 'to');
    if (from) filter.from = from;
    if (to) filter.to = to;
    const { auditPath: path, auditKeyPath } = deps.settings();
    // The chain is keyed (audit.key beside the data): verified with the key, as `audit verify` does.
    const [{ records, more }, verification] = await Promise.all([readAuditRecords(path, filter, LIMIT), verifier.verify(path, readAuditKey(auditKeyPath))]);
    const field = (name: keyof typeof q.data, label: string, type = 'text') =>
      html`<p><label for="f-${name}">${label}</label><input id="f-${name}" name="${name}" type="${type}" value="${q.data[name] ?? ''}" spellcheck="false"></p>`;
    const body = html`<section class="card verify" aria-labelledby="verify-title"><h2 id="verify-title">Chain</h2>
${verification.ok
  ? html`<p class="ok"><strong>Intact:</strong> ${verification.count} records, each hashed into the next. Head <code class="id">${verification.head ?? '(empty)'}</code>.</p>`
  : html`<p class="bad" role="alert"><strong>Broken:</strong> ${verification.problems.length} problem(s). ${verification.problems.slice(0, 5).map((p) => html`<br>line ${p.line}: ${p.problem}`)}</p>`}
</section>
<form method="get" action="${BASE}/audit" class="card filters" aria-label="Filter the log"><div class="grid">
${field('agent', 'Agent')}${field('action', 'Action')}${field('outcome', 'Outcome')}${field('from', 'From (UTC)', 'datetime-local')}${field('to', 'To (UTC)', 'datetime-local')}
</div><button type="submit">Filter</button> <a href="${BASE}/audit">Clear</a></form>
<p>${more ? html`More than ${LIMIT} records match: the newest ${LIMIT} are shown. Narrow the filters (agent, action, time) to see older ones.` : html`${records.length} matching record(s).`}</p>
${records.length === 0 ? html`<p class="empty">No record matches.</p>` : html`<div class="table-wrap"><table><caption class="visually-hidden">Audit records, newest first</caption>
<thead><tr><th scope="col">#</th><th scope="col">Time (UTC)</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Reason</th></tr></thead>
<tbody>${records.map((r) => html`<tr><td data-label="#">${r.seq}</td><td data-label="Time (UTC)"><time datetime="${r.ts}">${r.ts.replace('T', ' ').slice(0, 19)}</time></td><td data-label="Actor"><code>${r.actor}</code>${r.on_behalf_of ? html` <span class="muted">for <code>${r.on_behalf_of}</code></span>` : ''}</td><td data-label="Action">${r.action}</td><td data-label="Target">${r.namespace ? html`<code>${r.namespace}/${r.key ?? ''}</code>` : r.approval_id ? html`<a href="${BASE}/approvals/${encodeURIComponent(r.approval_id)}"><code>${r.approval_id.slice(0, 8)}</code></a>` : ''}</td><td data-label="Outcome">${r.outcome}</td><td data-label="Reason">${r.reason ?? r.error_code ?? ''}</td></tr>`)}</tbody></table></div>`}`;
    return sendPage(c, { title: 'Audit log', section: 'audit', body });
  });
}
