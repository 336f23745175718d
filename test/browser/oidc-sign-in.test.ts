/**
 * Issue 13 item 5: people sign in to the consent page with the team's OpenID Connect provider
 * (`auth.oidc`). Against a real provider on loopback (`oidc-provider`, test/helpers/oidc-peer.ts)
 * with its own login and consent pages, a real `serve --http` process, the SDK's own Client with
 * its OAuth provider, and Debian's chromium for every human step.
 *
 * Each refusal names the one-line bug it was checked against (the test failed with it):
 *  - tampered ID token   ← `oidcClient.enableNonRepudiationChecks(config)` removed (signature not checked:
 *                          omar's edited token, now in engineering, signed him in)
 *  - wrong nonce         ← the nonce comparison is openid-client's (oauth4webapi `validateIdTokenNonce`);
 *                          with it disabled in node_modules (`if (false && claims.nonce !== expected)`) jane got a session
 *  - wrong audience      ← likewise oauth4webapi's `validateAudience` step of `validateIdTokenClaims` removed
 *  - no allowed group    ← `if (templates.length === 0)` turned into `if (templates.length < 0)`
 *  - provider down       ← every failure reported as `refused` (no "could not be reached" page)
 *  - limited session     ← `else if (session.person && !limitedMayReach(...))` removed in security.ts
 *  - own sign-ins only   ← the `if (!own) return …404` of the revoke route disabled (kim revoked jane's)
 *  - bounded starts      ← the per-address `starts.take(...)` check removed (25 starts, no 429)
 *  - admins_group        ← `isLimited` ignoring adminsGroup (ada got 403 on the approval page); membership
 *                          not checked (`adminsGroup = oidc.admins_group`: jane, kim and omar got admin sessions, 5 tests failed);
 *                          the admins_group check of `stillValid` removed (ada's session outlived the edit);
 *                          `actingAdmin` without the label (the approval's audit record lacked her email)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { decodeJwt } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryProvider, RedirectReceiver } from '../helpers/oauth-client.js';
import { admin, approvalIdOf, call, fails, initHome, ok, REPO_ROOT, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { chromiumMissing, decide, launchBrowser, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { OidcPeer } from '../helpers/oidc-peer.js';

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('Sign-in with an OpenID Connect provider', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('auth.oidc: signing in to the consent page with an OpenID Connect provider', () => {
    const idp = new OidcPeer({
      jane: { email: 'jane@example.com', name: 'Jane Doe', groups: ['engineering', 'everyone'] },
      kim: { name: '<img src=x onerror=alert(1)> Kim', groups: ['engineering'] },
      omar: { email: 'omar@example.com', name: 'Omar', groups: ['sales', 'everyone'] },
      // In auth.oidc.admins_group only (no group maps to a template).
      ada: { email: 'ada@example.com', name: 'Ada', groups: ['secret-store-admins'] },
    });
    const receiver = new RedirectReceiver();
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let origin: string;
    let resource: string;
    const contexts: BrowserContext[] = [];
    const JANE = 'oidc:jane (jane@example.com)';

    const auditRecords = (): Record<string, unknown>[] =>
      readFileSync(path.join(home.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const grants = (): { human: string; agent_id: string; revoked_at?: string }[] => {
      try {
        return Object.values((JSON.parse(readFileSync(path.join(home.dir, 'oauth.json'), 'utf8')) as { grants: Record<string, { human: string; agent_id: string }> }).grants);
      } catch {
        return [];
      }
    };

    async function newPage(): Promise<Page> {
      const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
      contexts.push(context);
      return context.newPage();
    }

    /** From our sign-in page: "Sign in with Test IdP", then the provider's own login and consent pages. */
    async function signInAtIdp(page: Page, login: string): Promise<void> {
      await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
      await page.waitForURL((u) => u.origin === idp.issuer);
      await page.locator('input[name="login"]').fill(login);
      await page.locator('input[name="password"]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      // The provider's consent step (its devInteractions page).
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((u) => u.origin === origin, { timeout: 30_000 });
    }

    /** Whether this browser holds a dashboard session (the sign-ins page answers instead of sending it to sign in). */
    async function hasSession(page: Page): Promise<boolean> {
      await page.goto(`${origin}/dashboard/sign-ins`);
      return !page.url().includes('/dashboard/sign-in?') && !page.url().endsWith('/dashboard/sign-in');
    }

    beforeAll(async () => {
      await receiver.start();
      await idp.listen();
      home = await initHome({
        auth: {
          agent_keys: true,
          oauth: { templates: { reader: { description: 'Read the team secrets', grants: ['secrets:read:team/**'] }, ops: { grants: ['secrets:read:production/**'] } } },
          oidc: { issuer: idp.issuer, display_name: 'Test IdP', client_id: idp.clientId, client_secret_file: 'oidc-client-secret', scopes: ['openid', 'email', 'profile', 'groups'], groups: { engineering: 'reader' }, admins_group: 'secret-store-admins' },
        },
      });
      writeFileSync(path.join(home.dir, 'oidc-client-secret'), `${idp.clientSecret}\n`, { mode: 0o600 });
      for (const [ns, key, tier] of [['team/app', 'API_KEY', 'standard'], ['production/db', 'PASSWORD', 'standard'], ['ops/root', 'ROOT_KEY', 'critical'], ['ops/root', 'OTHER_KEY', 'critical']] as const) {
        const r = await admin(home, ['secrets', 'set', ns, key, '--tier', tier], { input: `value-of-${key}-${process.pid}` });
        if (r.code !== 0) throw new Error(r.stderr);
      }
      served = await startServing(home.configPath, 'serve');
      origin = served.origin;
      resource = `${origin}/mcp`;
      await idp.startProvider(`${origin}/dashboard/sign-in/oidc/callback`);
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser?.close();
      await served?.stop();
      await idp.stop();
      await receiver.stop();
      removeHome(home);
    });

    let jane: Page;
    let janeProvider: MemoryProvider;

    it('full flow: SDK client → our authorize → sign in at the provider → consent → token → get_secret; the audit names the person', async () => {
      idp.mode = 'pass';
      janeProvider = new MemoryProvider(receiver.url, 'Team chat app', { sendsState: false });
      const first = new Client({ name: 'oidc-e2e', version: '1.0.0' });
      await expect(first.connect(new StreamableHTTPClientTransport(new URL(resource), { authProvider: janeProvider }))).rejects.toBeInstanceOf(UnauthorizedError);
      jane = await newPage();
      await jane.goto(janeProvider.authorizationUrl!.toString());
      await jane.waitForURL(/\/dashboard\/sign-in\?next=/);
      // Saved into docs/ for docs/remote-auth.md, as the OAuth suite does for the consent page.
      await jane.screenshot({ path: path.join(REPO_ROOT, 'docs', 'remote-auth-oidc-sign-in.png'), fullPage: true });
      await signInAtIdp(jane, 'jane');
      await jane.waitForURL(/\/dashboard\/oauth\/consent\//);
      await expect.poll(() => jane.locator('.who strong').textContent()).toBe(JANE);
      // Only the templates of her groups, as her own agent; no configured agent to act as.
      const options = await jane.locator('input[name="agent"]').evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value));
      expect(options).toEqual(['template:reader']);
      await jane.getByLabel(/A new agent for you, reader\._jane/).check();
      const before = receiver.hits.length;
      await jane.getByRole('button', { name: 'Allow' }).click();
      await expect.poll(() => receiver.hits.length, { timeout: 15_000 }).toBeGreaterThan(before);
      const back = receiver.hits.at(-1)!;
      const transport = new StreamableHTTPClientTransport(new URL(resource), { authProvider: janeProvider });
      await transport.finishAuth(back.searchParams.get('code')!);
      expect(decodeJwt(janeProvider.saved!.access_token)).toMatchObject({ sub: 'reader._jane', act: { sub: JANE } });
      const client = new Client({ name: 'oidc-e2e', version: '1.0.0' });
      await client.connect(transport);
      expect((await ok(client, 'get_secret', { namespace: 'team/app', key: 'API_KEY' })).value).toBe(`value-of-API_KEY-${process.pid}`);
      // Nothing beyond the template: production is not hers.
      expect((await call(client, 'get_secret', { namespace: 'production/db', key: 'PASSWORD' })).ok).toBe(false);
      await client.close();
      const read = auditRecords().filter((r) => r.action === 'get_secret' && r.outcome === 'allowed' && r.key === 'API_KEY').at(-1);
      expect(read).toMatchObject({ actor: 'agent:reader._jane', on_behalf_of: JANE });
      expect(auditRecords().some((r) => r.action === 'dashboard.sign_in' && r.actor === JANE && r.outcome === 'ok')).toBe(true);
      expect(auditRecords().some((r) => r.action === 'oauth.consent' && r.actor === JANE && r.outcome === 'ok')).toBe(true);
      const verify = await admin(home, ['audit', 'verify']);
      expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    });

    it('the person’s session is limited: no approvals, secrets, agents or audit; not an admin anywhere', async () => {
      for (const p of ['approvals', 'secrets', 'agents', 'audit', 'events']) {
        const answer = await jane.request.get(`${origin}/dashboard/${p}`, { maxRedirects: 0 });
        expect(answer.status(), p).toBe(403);
      }
      // A state-changing request with her own valid CSRF token is refused too.
      await jane.goto(`${origin}/dashboard/sign-ins`);
      const csrf = await jane.locator('input[name="_csrf"]').first().inputValue();
      const approve = await jane.request.post(`${origin}/dashboard/approvals/anything/approve`, { form: { _csrf: csrf }, headers: { origin }, maxRedirects: 0 });
      expect(approve.status()).toBe(403);
      // The navigation offers only her sign-ins.
      expect(await jane.locator('nav[aria-label="Main"] a').allTextContents()).toEqual(['Sign-ins']);
    });

    it('a person sees and revokes only their own sign-ins; the name the provider gives is inert text', async () => {
      const kim = await newPage();
      await kim.goto(`${origin}/dashboard/sign-in`);
      await signInAtIdp(kim, 'kim');
      await kim.waitForURL(/\/dashboard\/sign-ins/);
      // Without an email, Kim's label is the name she chose at the provider: shown as text, never as markup.
      await expect.poll(() => kim.locator('.who strong').textContent()).toBe('oidc:kim (<img src=x onerror=alert(1)> Kim)');
      expect(await kim.locator('img').count()).toBe(0);
      expect(await kim.locator('main table').count()).toBe(0);
      const janeGrant = (JSON.parse(readFileSync(path.join(home.dir, 'oauth.json'), 'utf8')) as { grants: Record<string, { id: string; human: string }> });
      const janeId = Object.values(janeGrant.grants).find((g) => g.human === JANE)!.id;
      const csrf = await kim.locator('input[name="_csrf"]').first().inputValue();
      const steal = await kim.request.post(`${origin}/dashboard/sign-ins/${janeId}/revoke`, { form: { _csrf: csrf }, headers: { origin }, maxRedirects: 0 });
      expect(steal.status()).toBe(404);
      expect(grants().find((g) => g.human === JANE)?.revoked_at).toBeUndefined();

      // Jane sees her own and revokes it; the app's next call fails.
      await jane.goto(`${origin}/dashboard/sign-ins`);
      await expect.poll(() => jane.locator('main table tbody tr').count()).toBe(1);
      await jane.getByRole('button', { name: /Revoke/ }).click();
      const dialog = jane.getByRole('dialog');
      await dialog.waitFor({ state: 'visible' });
      await dialog.getByRole('button', { name: 'Yes, revoke' }).click();
      await jane.waitForURL(/done=revoked/);
      expect(grants().find((g) => g.human === JANE)?.revoked_at).toBeTruthy();
      const after = await fetch(resource, { method: 'POST', headers: { authorization: `Bearer ${janeProvider.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }) });
      expect(after.status).toBe(401);
    });

    it('refused: a person none of whose groups maps to a template gets a clear page; no session, nothing created', async () => {
      const page = await newPage();
      await page.goto(`${origin}/dashboard/sign-in`);
      const grantsBefore = grants().length;
      await signInAtIdp(page, 'omar');
      await expect.poll(() => page.locator('main').textContent()).toContain('None of your groups gives access to this server.');
      expect(await page.locator('main').textContent()).toContain('oidc:omar (omar@example.com)');
      expect(await hasSession(page)).toBe(false);
      expect(grants().length).toBe(grantsBefore);
      expect(auditRecords().some((r) => r.action === 'dashboard.sign_in' && r.actor === 'oidc:omar (omar@example.com)' && r.outcome === 'denied')).toBe(true);
    });

    for (const mode of ['tampered', 'wrong-nonce', 'wrong-audience'] as const) {
      it(`refused: an ID token ${mode === 'tampered' ? 'edited after signing' : mode === 'wrong-nonce' ? 'with the nonce of another sign-in' : 'for another relying party'} gives no session`, async () => {
        idp.mode = mode;
        try {
          const page = await newPage();
          await page.goto(`${origin}/dashboard/sign-in`);
          const issued = idp.issuedIdTokens.length;
          // Tampering: omar (sales only) edits his ID token to be in engineering.
          await signInAtIdp(page, mode === 'tampered' ? 'omar' : 'jane');
          await expect.poll(() => page.locator('main').textContent()).toContain('could not be verified');
          // The provider did answer with an ID token: the refusal is ours.
          expect(idp.issuedIdTokens.length).toBe(issued + 1);
          expect(await hasSession(page)).toBe(false);
          expect(served.stderr()).not.toContain(idp.clientSecret);
        } finally {
          idp.mode = 'pass';
        }
      });
    }

    it('refused: the provider down gives a clear page and no session', async () => {
      const page = await newPage();
      await page.goto(`${origin}/dashboard/sign-in`);
      idp.mode = 'down';
      try {
        await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
        await expect.poll(() => page.locator('main').textContent()).toContain('The identity provider could not be reached');
        expect(await hasSession(page)).toBe(false);
      } finally {
        idp.mode = 'pass';
      }
    });

    it('the callback works once: a replayed callback URL finds nothing', async () => {
      const page = await newPage();
      await page.goto(`${origin}/dashboard/sign-in`);
      let callback = '';
      page.on('request', (r) => {
        if (r.url().includes('/dashboard/sign-in/oidc/callback')) callback = r.url();
      });
      await signInAtIdp(page, 'jane');
      expect(callback).toContain('code=');
      const other = await newPage();
      await other.goto(callback);
      await expect.poll(() => other.locator('main').textContent()).toContain('expired or was already used');
      expect(await hasSession(other)).toBe(false);
    });

    it('a member of auth.oidc.admins_group gets a full admin session: approves in the dashboard, named in the audit; a person not in it gets 403', async () => {
      const ADA = 'oidc:ada (ada@example.com)';
      const agent = new Client({ name: 'oidc-admin-e2e', version: '1.0.0' });
      await agent.connect(new StreamableHTTPClientTransport(new URL(resource), { requestInit: { headers: { 'x-agent-key': home.agentKey } } }));
      try {
        const ada = await newPage();
        await ada.goto(`${origin}/dashboard/sign-in`);
        await signInAtIdp(ada, 'ada');
        await ada.waitForURL(/\/dashboard\/approvals/);
        await expect.poll(() => ada.locator('.who strong').textContent()).toBe(ADA);
        expect(await ada.locator('nav[aria-label="Main"] a').allTextContents()).toEqual(expect.arrayContaining(['Approvals', 'Secrets', 'Agents', 'Audit', 'Sign-ins']));
        for (const p of ['approvals', 'secrets', 'agents', 'audit', 'sign-ins']) expect((await ada.request.get(`${origin}/dashboard/${p}`, { maxRedirects: 0 })).status(), p).toBe(200);

        // The agent asks for a critical secret; Ada approves it on its page; the retry gets the value.
        const id = approvalIdOf((await fails(agent, 'get_secret', { namespace: 'ops/root', key: 'ROOT_KEY' })).error);
        await ada.goto(`${origin}/dashboard/approvals/${id}`);
        await decide(ada, ada, 'Approve');
        expect((await ok(agent, 'get_approval_status', { approval_id: id })).status).toBe('approved');
        expect((await ok(agent, 'get_secret', { namespace: 'ops/root', key: 'ROOT_KEY' })).value).toBe(`value-of-ROOT_KEY-${process.pid}`);
        // The audit names the person: sub and email; the approval counts her by sub.
        expect(auditRecords().find((r) => r.action === 'approvals.approve' && r.approval_id === id)).toMatchObject({ actor: `admin:${ADA}`, outcome: 'approval_granted' });
        expect(auditRecords().some((r) => r.action === 'dashboard.sign_in' && r.actor === `admin:${ADA}` && r.outcome === 'ok')).toBe(true);
        await ada.goto(`${origin}/dashboard/approvals/${id}`);
        expect(await ada.locator('main').textContent()).toContain('oidc:ada');

        // Jane is not in the group: her session stays limited, on a real pending request too.
        const other = approvalIdOf((await fails(agent, 'get_secret', { namespace: 'ops/root', key: 'OTHER_KEY' })).error);
        expect((await jane.request.get(`${origin}/dashboard/approvals/${other}`, { maxRedirects: 0 })).status()).toBe(403);
        await jane.goto(`${origin}/dashboard/sign-ins`);
        const csrf = await jane.locator('input[name="_csrf"]').first().inputValue();
        const approve = await jane.request.post(`${origin}/dashboard/approvals/${other}/approve`, { form: { _csrf: csrf }, headers: { origin }, maxRedirects: 0 });
        expect(approve.status()).toBe(403);
        expect((await ok(agent, 'get_approval_status', { approval_id: other })).status).toBe('pending');
        // Revealing a value asks for an admin key again, which a person from the provider does not have here.
        await ada.goto(`${origin}/dashboard/secrets/ops/root/ROOT_KEY`);
        const adaCsrf = await ada.locator('input[name="_csrf"]').first().inputValue();
        const reveal = await ada.request.post(`${origin}/dashboard/secrets/ops/root/ROOT_KEY/reveal`, { form: { _csrf: adaCsrf, admin_key: home.adminKey }, headers: { origin }, maxRedirects: 0 });
        expect(reveal.status()).not.toBe(200);
        expect(await reveal.text()).toContain('needs an admin key');
        expect(await reveal.text()).not.toContain(`value-of-ROOT_KEY-${process.pid}`);
        const verify = await admin(home, ['audit', 'verify']);
        expect(verify.code, verify.stderr + verify.stdout).toBe(0);
      } finally {
        await agent.close();
      }
    });

    it('admins_group removed from the config ends the admin session at its next request, without a restart', async () => {
      const ada = await newPage();
      await ada.goto(`${origin}/dashboard/sign-in`);
      await signInAtIdp(ada, 'ada');
      await ada.waitForURL(/\/dashboard\/approvals/);
      await setConfig(home.configPath, { 'auth.oidc.admins_group': undefined });
      const next = await ada.request.get(`${origin}/dashboard/approvals`, { maxRedirects: 0 });
      expect(next.status()).toBe(303);
      expect(next.headers().location).toMatch(/\/dashboard\/sign-in/);
      // The session is gone, not only this page: the Sign-ins page wants a sign-in too.
      expect(await hasSession(ada)).toBe(false);
      // Signing in again (a new browser: the provider would remember her): no group of hers maps to a template now, so nothing.
      const again = await newPage();
      await again.goto(`${origin}/dashboard/sign-in`);
      await signInAtIdp(again, 'ada');
      await expect.poll(() => again.locator('main').textContent()).toContain('None of your groups gives access to this server.');
      // The edit was applied live, not left for a restart.
      expect(served.stderr()).not.toMatch(/apply only after a restart: auth/);
    });

    // Last: it spends this address's sign-in starts.
    it('one address cannot start sign-ins without bound (each costs a request to the provider)', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 25 && !statuses.includes(429); i++) {
        statuses.push((await fetch(`${origin}/dashboard/sign-in/oidc`, { redirect: 'manual' })).status);
      }
      expect(statuses.at(-1)).toBe(429);
      expect(statuses.slice(0, -1).every((s) => s === 303)).toBe(true);
    });
  });
}
