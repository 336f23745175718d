import type { Hono } from 'hono';
import { OAuthError, oauthFor, type AgentChoice, type OAuthService } from '../../server/oauth/index.js';
import { personAgentId } from '../../server/oauth/service.js';
import { isSamePerson, oidcPersonAgentId } from '../../server/oauth/oidc-person.js';
import { isLimited, type Session } from '../sessions.js';
import { sendPage, type DashboardContext, type DashboardDeps, type DashboardEnv } from '../context.js';
import { html } from '../html.js';
import { BASE, csrfField, when } from '../layout.js';

/**
 * The human step of OAuth sign-in (MCP authorization): after the dashboard's sign-in, a consent
 * page says which client asks, where it sends the browser back, and which agent it would act
 * as with which scopes; the person approves or refuses (CSRF-checked form). The sign-ins page
 * lists every grant and revokes one (effective on the client's next request).
 * Security: the client's name and URI come from whoever registered it; they are shown as inert
 * text, labelled as the client's own claim. Only a signed-in admin session reaches these pages;
 * agent keys and tokens cannot sign in. Consent never changes tiers: a critical secret still needs its approval.
 */

export const CONSENT_PATH = `${BASE}/oauth/consent`;
const GRANTS_PATH = `${BASE}/sign-ins`;

async function service(c: DashboardContext, deps: DashboardDeps): Promise<OAuthService | Response> {
  const oauth = await oauthFor(deps.runtime);
  if (!oauth) return sendPage(c, { title: 'Sign-in is off', body: html`<p>OAuth sign-in for remote clients is not enabled on this server. See <code>auth.oauth</code> in docs/remote-auth.md.</p>` }, 404);
  return oauth;
}

function choiceValue(choice: AgentChoice): string {
  return choice.kind === 'existing' ? `agent:${choice.id}` : `template:${choice.name}`;
}

function parseChoice(value: unknown): AgentChoice | null {
  if (typeof value !== 'string') return null;
  if (value.startsWith('agent:')) return { kind: 'existing', id: value.slice('agent:'.length) };
  if (value.startsWith('template:')) return { kind: 'template', name: value.slice('template:'.length) };
  return null;
}

/** Who consents: the admin, or the person signed in through the identity provider. */
function humanOf(session: Session): string {
  return session.person ? session.person.human : `admin:${session.adminId}`;
}

/**
 * The templates a person signed in through the identity provider may use: those their groups gave
 * them at sign-in that the config in force still maps to a group (the service checks it again).
 */
function personTemplates(deps: DashboardDeps, session: Session): string[] {
  const groups = Object.values(deps.settings().config.auth.oidc?.groups ?? {}).flat();
  return (session.person?.templates ?? []).filter((t) => groups.includes(t));
}

export function registerOAuth(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(`${CONSENT_PATH}/:id`, async (c) => {
    const oauth = await service(c, deps);
    if (oauth instanceof Response) return oauth;
    const pending = await oauth.pending(c.req.param('id'));
    if (!pending) return sendPage(c, { title: 'Sign-in request expired', body: html`<p>This request has expired or was already answered. Start again from the app that sent you here.</p>` }, 404);
    const session = c.get('session');
    const human = humanOf(session);
    const choices = oauth.agentChoices();
    // A person signed in through the identity provider gets only their groups' templates, as their own agent.
    const allowed = session.person ? personTemplates(deps, session) : undefined;
    const templates = allowed ? choices.templates.filter((t) => allowed.includes(t.name)) : choices.templates;
    const agents = session.person ? [] : choices.agents;
    const agentIdFor = (template: string): string => (session.person ? oidcPersonAgentId(template, session.person.sub) : personAgentId(template, human));
    const redirect = new URL(pending.redirectUri);
    // The form's answer redirects to the client; Chromium checks that redirect against this page's
    // CSP form-action, which must then name exactly that one origin besides our own.
    c.set('formActionOrigin', redirect.origin);
    const options = [
      ...templates.map((t) => ({ value: choiceValue({ kind: 'template', name: t.name }), label: html`A new agent for you, <code>${agentIdFor(t.name)}</code>, from template <code>${t.name}</code>`, grants: t.grants, description: t.description })),
      ...agents.map((a) => ({ value: choiceValue({ kind: 'existing', id: a.id }), label: html`Existing agent <code>${a.id}</code>`, grants: a.grants, description: a.description })),
    ];
    const body = html`<section class="card consent" aria-labelledby="consent-title">
<h2 id="consent-title">An app asks to use this server for you</h2>
<dl class="facts">
<dt>App (its own description)</dt><dd><strong class="client-name">${pending.client.client_name ?? 'unnamed client'}</strong></dd>
${pending.client.client_uri ? html`<dt>App website (its own claim)</dt><dd><code>${pending.client.client_uri}</code></dd>` : ''}
<dt>Client ID</dt><dd><code>${pending.client.client_id}</code> (${pending.client.kind === 'dynamic' ? 'registered itself' : 'metadata document'})</dd>
${pending.address ? html`<dt>Asked from</dt><dd><code>${pending.address}</code></dd>` : ''}
<dt>Sends you back to</dt><dd><code>${redirect.protocol}//${redirect.host}</code></dd>
<dt>Acts on</dt><dd><code>${pending.resource}</code></dd>
<dt>Signed in as</dt><dd><code>${human}</code>: every call it makes is recorded with your name.</dd>
</dl>
${options.length === 0
  ? session.person
    ? html`<p class="notice notice-error" role="alert">None of your groups may allow apps here any more. Ask an operator (auth.oidc.groups).</p>`
    : html`<p class="notice notice-error" role="alert">No agent or template to act as. Add an agent, or a template under <code>auth.oauth.templates</code>, first.</p>`
  : html`<form method="post" action="${CONSENT_PATH}/${pending.id}">${csrfField(session.csrf)}
<fieldset><legend>Act as</legend>
${options.map((o, i) => html`<div class="choice"><input type="radio" name="agent" id="choice-${i}" value="${o.value}"${i === 0 ? html` checked` : ''}> <label for="choice-${i}">${o.label}</label>
${o.description ? html`<p class="help">${o.description}</p>` : ''}<p class="help">It may use: ${o.grants.length ? html`<span class="scopes">${o.grants.map((g) => html`<code>${g}</code> `)}</span>` : 'nothing'}</p></div>`)}
</fieldset>
<p class="help">Secrets whose tier needs a human approval still need one: signing in does not approve anything.</p>
<div class="actions"><button type="submit" name="decision" value="approve" class="primary">Allow</button> <button type="submit" name="decision" value="refuse">Refuse</button></div>
</form>`}
</section>`;
    return sendPage(c, { title: 'Allow access?', body });
  });

  app.post(`${CONSENT_PATH}/:id`, async (c) => {
    const oauth = await service(c, deps);
    if (oauth instanceof Response) return oauth;
    const session = c.get('session');
    const form = await c.req.parseBody();
    const id = c.req.param('id');
    try {
      let target: string;
      if (form.decision === 'refuse') {
        target = await oauth.decide(id, humanOf(session), { approve: false });
      } else {
        const choice = parseChoice(form.agent);
        if (form.decision !== 'approve' || !choice) return sendPage(c, { title: 'Allow access?', body: html`<p><a href="${CONSENT_PATH}/${id}">Back to the request</a></p>`, notice: { kind: 'error', text: 'Choose an agent, then Allow or Refuse.' } }, 400);
        target = await oauth.decide(id, humanOf(session), { approve: true, agent: choice, ...(session.person ? { templates: personTemplates(deps, session) } : {}) });
      }
      return c.redirect(target, 303);
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error;
      return sendPage(c, { title: 'That did not work', body: html`<p>Start again from the app that sent you here.</p>`, notice: { kind: 'error', text: error.description } }, 400);
    }
  });

  app.get(GRANTS_PATH, async (c) => {
    const oauth = await service(c, deps);
    if (oauth instanceof Response) return oauth;
    const session = c.get('session');
    const now = deps.runtime.clock();
    // A person signed in through the identity provider sees only the sign-ins they made (an admin sees all).
    const grants = (await oauth.listGrants()).filter((g) => !isLimited(session) || isSamePerson(g.human, session.person!.sub));
    const done = c.req.query('done') === 'revoked' ? { notice: { kind: 'ok' as const, text: 'Revoked: the app’s next request fails.' } } : {};
    const body = html`<p>Apps that people allowed to use this server through a sign-in (OAuth). Revoking one ends its access at its next request.</p>
${grants.length === 0
  ? html`<div class="empty"><p><strong>No sign-ins yet.</strong></p></div>`
  : html`<div class="table-wrap"><table><caption class="visually-hidden">Sign-ins</caption><thead><tr><th scope="col">App</th><th scope="col">Agent</th><th scope="col">Allowed by</th><th scope="col">Since</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead><tbody>
${grants.map((g) => html`<tr><td>${g.client_name} <span class="muted">(${g.redirect_host})</span></td><td><code>${g.agent_id}</code>${g.template ? html` <span class="muted">from ${g.template}</span>` : ''}</td><td><code>${g.human}</code></td><td>${when(g.created_at, now)}</td>
<td>${g.revoked_at ? html`revoked ${when(g.revoked_at, now)}` : 'active'}</td>
<td>${g.revoked_at ? '' : html`<form method="post" action="${GRANTS_PATH}/${encodeURIComponent(g.id)}/revoke" data-confirm="Revoke the sign-in of ${g.client_name} as ${g.agent_id}? Its next request fails." data-confirm-yes="Yes, revoke">${csrfField(session.csrf)}<button type="submit" class="danger">Revoke<span class="visually-hidden"> ${g.client_name}</span></button></form>`}</td></tr>`)}
</tbody></table></div>`}`;
    return sendPage(c, { title: 'Sign-ins', section: 'sign-ins', body, ...done });
  });

  app.post(`${GRANTS_PATH}/:id/revoke`, async (c) => {
    const oauth = await service(c, deps);
    if (oauth instanceof Response) return oauth;
    const session = c.get('session');
    if (isLimited(session)) {
      const sub = session.person!.sub;
      const own = (await oauth.listGrants()).some((g) => g.id === c.req.param('id') && isSamePerson(g.human, sub));
      if (!own) return sendPage(c, { title: 'Not found', body: html`<p><a href="${GRANTS_PATH}">Back to your sign-ins</a></p>`, notice: { kind: 'error', text: 'You have no such sign-in.' } }, 404);
    }
    await oauth.revokeGrant(c.req.param('id'), humanOf(session));
    return c.redirect(`${GRANTS_PATH}?done=revoked`, 303);
  });
}
