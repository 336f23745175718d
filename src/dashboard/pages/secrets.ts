import type { Hono } from 'hono';
import { z } from 'zod';
import { authenticateAdmin } from '../../server/authenticate.js';
import {
  AccessTierSchema, GenerateBytesSchema, humanDeleteSecret, humanDescribeSecret, humanListSecrets, humanRevealSecret, humanRotateSecret, humanSetSecret, SecretTypeSchema,
} from '../../server/human-secrets.js';
import { AssError, isAssError } from '../../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { doneNotice, sendPage, type DashboardContext, type DashboardDeps, type DashboardEnv } from '../context.js';
import { actingAdmin } from '../sessions.js';
import { clientAddress } from '../security.js';
import { html, hrefSegments } from '../html.js';
import { BASE, csrfField, when } from '../layout.js';

/**
 * Secrets as metadata (never values in a list), one page per secret
 * (`/dashboard/secrets/<namespace segments>/<key>`), and the human operations — reveal (admin
 * key entered again, shown once), set, rotate (paste or generate) and delete — each through the
 * shared function in src/server/human-secrets.ts, behind a confirmation.
 */

const SetSchema = z.object({ namespace: z.string().min(1), key: z.string().min(1), value: z.string().min(1, 'the value is empty'), secret_type: SecretTypeSchema, access_tier: AccessTierSchema.or(z.literal('')) });
const RotateSchema = z.object({ mode: z.enum(['paste', 'generate']), value: z.string().optional(), bytes: z.coerce.number().pipe(GenerateBytesSchema).optional() });

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (!result.success) throw new AssError('INVALID_ARGUMENT', `Check the form: ${result.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; ')}.`);
  return result.data;
}

/** `<ns segments…>/<key>` from the path after `/dashboard/secrets/`. */
function secretPath(c: DashboardContext, suffix = ''): { namespace: string; key: string } {
  let rest = c.req.path.slice(`${BASE}/secrets/`.length);
  if (suffix) rest = rest.slice(0, -suffix.length);
  const segments = rest.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new AssError('INVALID_ARGUMENT', 'Bad secret path.');
    }
  });
  if (segments.length < 2) throw new AssError('INVALID_ARGUMENT', 'A secret’s page is /dashboard/secrets/<namespace>/<key>.');
  return { namespace: segments.slice(0, -1).join('/'), key: segments.at(-1)! };
}

const secretHref = (namespace: string, key: string): string => `${BASE}/secrets/${hrefSegments(...namespace.split('/'), key)}`;

const options = (values: readonly string[], selected?: string) => values.map((v) => html`<option value="${v}"${v === selected ? html` selected` : ''}>${v}</option>`);

export function registerSecrets(app: Hono<DashboardEnv>, deps: DashboardDeps): void {
  app.get(`${BASE}/secrets`, async (c) => {
    const session = c.get('session');
    const ns = c.req.query('namespace') || undefined;
    const { namespaces, items } = await humanListSecrets(deps.runtime, ns);
    const now = deps.runtime.clock();
    const body = html`<nav aria-label="Namespaces" class="namespaces"><h2>Namespaces</h2>
${namespaces.length === 0 ? html`<p class="muted">None yet.</p>` : html`<ul><li><a href="${BASE}/secrets"${ns ? '' : html` aria-current="page"`}>All</a></li>${namespaces.map((n) => html`<li><a href="${BASE}/secrets?namespace=${encodeURIComponent(n)}"${n === ns ? html` aria-current="page"` : ''}><code>${n}</code></a></li>`)}</ul>`}
</nav>
<section aria-labelledby="secrets-title"><h2 id="secrets-title">${ns ? html`Secrets in <code>${ns}</code>` : 'All secrets'}</h2>
${items.length === 0
  ? html`<div class="empty"><p><strong>No secrets here yet.</strong></p><p>Add one below, or with <code>agent-secret-store secrets set &lt;namespace&gt; &lt;key&gt;</code>. Agents with a write grant can store them with <code>set_secret</code>.</p></div>`
  : html`<div class="table-wrap"><table><caption class="visually-hidden">Secrets (values are never listed)</caption>
<thead><tr><th scope="col">Secret</th><th scope="col">Type</th><th scope="col">Tier</th><th scope="col">Version</th><th scope="col">Updated</th></tr></thead>
<tbody>${items.map((s) => html`<tr><td data-label="Secret"><a href="${secretHref(s.namespace, s.key)}"><code>${s.namespace}/${s.key}</code></a></td><td data-label="Type">${s.secret_type}</td><td data-label="Tier"><span class="tier tier-${s.access_tier}">${s.access_tier}</span></td><td data-label="Version">${s.version}</td><td data-label="Updated">${when(s.updated_at, now)}</td></tr>`)}</tbody></table></div>`}
</section>
<section aria-labelledby="add-title" class="card"><h2 id="add-title">Store a secret</h2>
<form method="post" action="${BASE}/secrets" data-confirm="Store this secret? An existing one with the same name gets a new version." data-confirm-yes="Yes, store">${csrfField(session.csrf)}
<div class="grid">
<p><label for="set-namespace">Namespace</label><input id="set-namespace" name="namespace" required value="${ns ?? ''}" placeholder="production/stripe" autocomplete="off" spellcheck="false"></p>
<p><label for="set-key">Key</label><input id="set-key" name="key" required placeholder="STRIPE_SECRET_KEY" autocomplete="off" spellcheck="false"></p>
<p><label for="set-value">Value</label><input id="set-value" name="value" type="password" required autocomplete="off"></p>
<p><label for="set-type">Type</label><select id="set-type" name="secret_type">${options(SECRET_TYPES, 'custom')}</select></p>
<p><label for="set-tier">Tier</label><select id="set-tier" name="access_tier"><option value="">unchanged (new secrets: the namespace default)</option>${options(ACCESS_TIERS)}</select></p>
</div>
<button type="submit" class="primary">Store</button>
</form></section>`;
    return sendPage(c, { title: 'Secrets', section: 'secrets', body, notice: doneNotice(c) });
  });

  app.post(`${BASE}/secrets`, async (c) => {
    const input = parse(SetSchema, await c.req.parseBody());
    const stored = await humanSetSecret(deps.runtime, { ...actingAdmin(c.get('session')), via: 'dashboard' }, {
      namespace: input.namespace.trim(), key: input.key.trim(), value: input.value, secretType: input.secret_type, ...(input.access_tier ? { tier: input.access_tier } : {}),
    });
    return c.redirect(`${secretHref(stored.namespace, stored.key)}?done=stored`, 303);
  });

  app.post(`${BASE}/secrets/*`, async (c) => {
    const session = c.get('session');
    const who = { ...actingAdmin(session), via: 'dashboard' as const };
    const verb = c.req.path.split('/').at(-1);
    const body = await c.req.parseBody();
    if (verb === 'reveal') {
      const target = secretPath(c, '/reveal');
      // A reveal asks for the admin key again; an admin signed in through the identity provider has none here.
      if (session.person) throw new AssError('UNAUTHENTICATED', 'Revealing a value needs an admin key, entered again: you signed in with your identity provider. Sign in with an admin key, or use `agent-secret-store secrets get` with one.');
      // Security: a reveal needs the admin key again, and the same admin as the session. Wrong
      // keys here are slowed and audited as at sign-in, so a stolen session cannot guess keys.
      const address = clientAddress(c, deps.settings().config.dashboard?.trusted_proxies);
      const wait = deps.throttle.waitSeconds(address);
      if (wait > 0) throw new AssError('RATE_LIMITED', `Too many wrong keys from this address. Wait ${wait} s and try again.`);
      let again: string | undefined;
      let refusal: AssError | undefined;
      try {
        again = authenticateAdmin(deps.settings(), typeof body.admin_key === 'string' ? body.admin_key.trim() : undefined);
      } catch (error) {
        if (!isAssError(error)) throw error;
        refusal = error; // says what was entered instead (an agent key, an unknown key)
      }
      if (again !== session.adminId) {
        const count = deps.throttle.fail(address);
        await deps.runtime.audit.append({ actor: `admin:${session.adminId}`, action: 'secrets.reveal', namespace: target.namespace, key: target.key, outcome: 'denied', reason: `wrong admin key re-entered from ${address.slice(0, 64)} (failure ${count})` });
        throw refusal ?? new AssError('UNAUTHENTICATED', 'Enter your own admin key (the one you signed in with) to reveal a value.');
      }
      deps.throttle.succeed(address);
      const read = await humanRevealSecret(deps.runtime, who, target);
      const page = html`<p><a href="${secretHref(target.namespace, target.key)}">← Back to <code>${target.namespace}/${target.key}</code></a></p>
<section class="card" aria-labelledby="value-title"><h2 id="value-title">Value of <code>${target.namespace}/${target.key}</code>, version ${read.version}</h2>
<p class="help">Shown once: this page is not cached and the value is not kept. The read is in the audit log under your name.</p>
<label for="revealed">Value</label><textarea id="revealed" readonly rows="3" spellcheck="false">${read.value}</textarea>
</section>`;
      return sendPage(c, { title: 'Revealed value', section: 'secrets', body: page });
    }
    if (verb === 'rotate') {
      const target = secretPath(c, '/rotate');
      const input = parse(RotateSchema, body);
      const rotated = await humanRotateSecret(deps.runtime, who, { ...target, ...(input.mode === 'generate' ? { generateBytes: input.bytes ?? 32 } : { value: input.value ?? '' }) });
      return c.redirect(`${secretHref(rotated.namespace, rotated.key)}?done=rotated`, 303);
    }
    if (verb === 'delete') {
      const target = secretPath(c, '/delete');
      await humanDeleteSecret(deps.runtime, who, { ...target, force: body.force === 'yes' });
      return c.redirect(`${BASE}/secrets?namespace=${encodeURIComponent(target.namespace)}&done=deleted`, 303);
    }
    throw new AssError('INVALID_ARGUMENT', 'No such action.');
  });

  app.get(`${BASE}/secrets/*`, async (c) => {
    const session = c.get('session');
    const target = secretPath(c);
    const secret = await humanDescribeSecret(deps.runtime, target.namespace, target.key);
    const now = deps.runtime.clock();
    const base = secretHref(secret.namespace, secret.key);
    const recovery = deps.runtime.backend.kind === 'aws' ? 'AWS keeps a deleted secret recoverable for its recovery window unless you skip it.' : 'This backend deletes every version at once; there is no recovery.';
    const body = html`<p><a href="${BASE}/secrets?namespace=${encodeURIComponent(secret.namespace)}">← Secrets in <code>${secret.namespace}</code></a></p>
<dl class="facts"><dt>Namespace</dt><dd><code>${secret.namespace}</code></dd><dt>Key</dt><dd><code>${secret.key}</code></dd><dt>Type</dt><dd>${secret.secret_type}</dd><dt>Tier</dt><dd><span class="tier tier-${secret.access_tier}">${secret.access_tier}</span></dd><dt>Version</dt><dd>${secret.version}</dd><dt>Created</dt><dd>${when(secret.created_at, now)}</dd><dt>Updated</dt><dd>${when(secret.updated_at, now)}</dd></dl>
<section class="card" aria-labelledby="reveal-title"><h2 id="reveal-title">Reveal the value</h2>
<form method="post" action="${base}/reveal">${csrfField(session.csrf)}
<p><label for="reveal-key">Admin key</label><input id="reveal-key" name="admin_key" type="password" required autocomplete="off" aria-describedby="reveal-help"></p>
<p id="reveal-help" class="help">Enter your admin key again. The value is shown once and the read is audited.</p>
<button type="submit">Reveal</button></form></section>
<section class="card" aria-labelledby="rotate-title"><h2 id="rotate-title">Rotate</h2>
<form method="post" action="${base}/rotate" data-confirm="Write a new version of ${secret.namespace}/${secret.key}? Agents get the new value from their next read." data-confirm-yes="Yes, rotate">${csrfField(session.csrf)}
<fieldset><legend>New value</legend>
<p><input type="radio" id="rotate-generate" name="mode" value="generate" checked> <label for="rotate-generate">Generate a random value (never shown)</label></p>
<p><input type="radio" id="rotate-paste" name="mode" value="paste"> <label for="rotate-paste">Paste a value</label></p>
<p><label for="rotate-value">Pasted value</label><input id="rotate-value" name="value" type="password" autocomplete="off"></p>
</fieldset>
<button type="submit">Rotate</button></form></section>
<section class="card" aria-labelledby="delete-title"><h2 id="delete-title">Delete</h2>
<form method="post" action="${base}/delete" data-confirm="Delete ${secret.namespace}/${secret.key} and all its versions?" data-confirm-yes="Yes, delete">${csrfField(session.csrf)}
<p class="help">${recovery}</p>
${deps.runtime.backend.kind === 'aws' ? html`<p><input type="checkbox" id="delete-force" name="force" value="yes"> <label for="delete-force">Skip the recovery window (irreversible)</label></p>` : ''}
<button type="submit" class="danger">Delete</button></form></section>`;
    return sendPage(c, { title: `${secret.namespace}/${secret.key}`, section: 'secrets', body, notice: doneNotice(c) });
  });
}
