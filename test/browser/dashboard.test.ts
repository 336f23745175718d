/**
 * The dashboard in a real browser (Debian chromium through playwright-core) against real
 * processes: once served by `serve --http` (the agent's MCP client over streamable HTTP), once
 * by `agent-secret-store dashboard` beside a stdio server (the agent's MCP client over pipes).
 * Every decision is made by clicking, and every effect is checked from the agent's side.
 */
import { renameSync, writeFileSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, adminJson, approvalIdOf, call, connectAgent, fails, initHome, ok, REPO_ROOT, removeHome, type Home } from '../helpers/cli.js';
import { axeViolations, chromiumMissing, decide, launchBrowser, liveReady, screenshot, signIn, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { raw } from '../helpers/remote-http.js';

const SECRETS = {
  stripe: { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' },
  denied: { namespace: 'production/deny', key: 'DENIED_KEY' },
  pair: { namespace: 'team/pair', key: 'PAIR_KEY' },
  slow: { namespace: 'slow/ns', key: 'SLOW_KEY' },
  cli: { namespace: 'production/cli', key: 'CLI_KEY' },
  // Markup-like, as far as the name grammar allows: what a hostile agent could store.
  markup: { namespace: 'production/markup', key: 'img=x+onerror=alert.1' },
  csrf: { namespace: 'production/csrf', key: 'CSRF_KEY' },
  screens: { namespace: 'production/screens', key: 'SCREEN_KEY' },
  notice: { namespace: 'production/notice', key: 'NOTICE_KEY' },
  later: { namespace: 'production/later', key: 'LATER_KEY' },
};
const valueOf = (name: keyof typeof SECRETS) => `value-of-${name}-${process.pid}`;
const scopeOf = (s: { namespace: string; key: string }) => `secrets:read:${s.namespace}/${s.key}`;
const XSS_REASON = '<img src=x onerror=alert(1)>';

type Mode = 'serve' | 'dashboard';

async function seed(home: Home): Promise<void> {
  for (const [name, s] of Object.entries(SECRETS)) {
    const result = await admin(home, ['secrets', 'set', s.namespace, s.key, '--tier', 'critical'], { input: valueOf(name as keyof typeof SECRETS) });
    if (result.code !== 0) throw new Error(`seeding ${name}: ${result.stderr}`);
  }
}

async function agentClient(mode: Mode, home: Home, served: ServedDashboard): Promise<{ client: Client; close(): Promise<void> }> {
  if (mode === 'dashboard') return connectAgent(home.configPath, home.agentKey);
  const client = new Client({ name: 'browser-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${served.origin}/mcp`), { requestInit: { headers: { 'x-agent-key': home.agentKey } } });
  await client.connect(transport);
  return { client, close: () => client.close() };
}

/** Watches a page for anything a script injection would cause. */
function watch(page: Page): { dialogs: string[]; errors: string[] } {
  const seen = { dialogs: [] as string[], errors: [] as string[] };
  page.on('dialog', (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('console', (m) => {
    if (m.type() === 'error') seen.errors.push(m.text());
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  return seen;
}

const card = (page: Page, s: { namespace: string; key: string }) => page.getByRole('article').filter({ hasText: scopeOf(s) });

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('dashboard in a browser', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe.each<Mode>(['serve', 'dashboard'])('dashboard in chromium, served by `%s`', (mode) => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let context: BrowserContext;
    let agent: { client: Client; close(): Promise<void> };

    beforeAll(async () => {
      home = await initHome({
        'policy.namespaces': [
          { pattern: 'team/**', tiers: { critical: { effect: 'approval', approvers: 2 } } },
          { pattern: 'slow/**', tiers: { critical: { effect: 'approval', delay: '1h' } } },
        ],
      });
      await seed(home);
      served = await startServing(home.configPath, mode);
      agent = await agentClient(mode, home, served);
      browser = await launchBrowser();
      context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    }, 180_000);

    afterAll(async () => {
      await agent?.close();
      await browser?.close();
      await served?.stop();
      removeHome(home);
    });

    it('signs in with the admin key only; an agent key, a wrong key and a token are refused; sign-out ends the session on the server', async () => {
      const page = await context.newPage();
      for (const [key, message] of [
        [home.agentKey, /That is an agent key/],
        ['ass_admin_not-a-real-key-at-all-000000000000000', /Unknown admin key/],
        ['eyJhbGciOiJFZERTQSJ9.e30.sig', /That is a token/],
      ] as const) {
        await page.goto(`${served.origin}/dashboard/sign-in`);
        await page.getByLabel('Admin key').fill(key);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.getByRole('alert').filter({ hasText: message }).waitFor();
        expect(page.url()).toContain('/dashboard/sign-in');
      }
      await signIn(page, served.origin, home.adminKey);
      const cookie = (await context.cookies()).find((c) => c.name === 'ass_session')!;
      expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
      const headers = { cookie: `ass_session=${cookie.value}` };
      const before = await raw({ url: served.origin, path: '/dashboard/approvals?partial=1', headers });
      expect(before.status).toBe(200);
      expect(before.headers['cache-control']).toBe('no-store');
      expect(before.headers['content-security-policy']).toMatch(/script-src 'self'.*frame-ancestors 'none'/);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(/\/dashboard\/sign-in/);
      // The old cookie, replayed: the server ended the session, not just the browser.
      const after = await raw({ url: served.origin, path: '/dashboard/approvals?partial=1', headers });
      expect(after.status).toBe(401);
      await page.close();
    });

    it("a critical get_secret appears live with its details; Approve makes the client's retry return the value", async () => {
      const page = await context.newPage();
      const seen = watch(page);
      await signIn(page, served.origin, home.adminKey);
      await liveReady(page);
      await page.evaluate(() => ((globalThis as unknown as { noReload: number }).noReload = 1));
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.stripe)).error);
      const request = card(page, SECRETS.stripe);
      await expect.poll(() => request.count(), { timeout: 15_000 }).toBe(1);
      const text = (await request.textContent())!;
      expect(text).toContain('default');
      expect(text).toContain(`${SECRETS.stripe.namespace}/${SECRETS.stripe.key}`);
      expect(text).toMatch(/0 of 1/);
      expect(text).toContain(id);
      expect(await page.evaluate(() => (globalThis as unknown as { noReload?: number }).noReload)).toBe(1);
      await decide(page, request, 'Approve');
      await page.getByRole('status').filter({ hasText: /Approved/ }).waitFor();
      expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status).toBe('approved');
      expect((await ok(agent.client, 'get_secret', SECRETS.stripe)).value).toBe(valueOf('stripe'));
      expect(seen).toEqual({ dialogs: [], errors: [] });
      await page.close();
    });

    it('Deny makes the retry fail', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.denied)).error);
      // The old page of `serve --http` (and any link to it) leads to the request's dashboard page.
      const old = await raw({ url: served.origin, path: `/approvals/${id}` });
      expect(old.status).toBe(302);
      expect(old.headers.location).toBe(`/dashboard/approvals/${id}`);
      await page.goto(`${served.origin}/dashboard/approvals/${id.slice(0, 8)}`);
      await decide(page, card(page, SECRETS.denied), 'Deny');
      await page.getByRole('status').filter({ hasText: /Denied/ }).waitFor();
      expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status).toBe('denied');
      const retry = await call(agent.client, 'get_secret', SECRETS.denied);
      expect(retry.ok).toBe(false);
      await page.close();
    });

    it('the notice of what was just done stays when the page refreshes live', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.notice)).error);
      await page.goto(`${served.origin}/dashboard/approvals/${id}`);
      await decide(page, card(page, SECRETS.notice), 'Deny');
      const denied = page.getByRole('status').filter({ hasText: /Denied/ });
      await denied.waitFor();
      await liveReady(page);
      const main = page.locator('main');
      const before = await main.getAttribute('data-updated');
      // A new request elsewhere: every open page hears the change and fetches its region again.
      await fails(agent.client, 'get_secret', SECRETS.later);
      await expect.poll(() => main.getAttribute('data-updated'), { timeout: 15_000 }).not.toBe(before);
      expect(await denied.count()).toBe(1);
      await page.close();
    });

    it('a quorum of 2 needs two admins: one approval is not enough, a second admin in another browser completes it', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.pair)).error);
      await page.goto(`${served.origin}/dashboard/approvals/${id}`);
      await decide(page, card(page, SECRETS.pair), 'Approve');
      await page.getByRole('status').filter({ hasText: /more approvers are needed/ }).waitFor();
      expect(await ok(agent.client, 'get_approval_status', { approval_id: id })).toMatchObject({ status: 'pending', approvals_received: 1, approvals_required: 2 });
      expect((await call(agent.client, 'get_secret', SECRETS.pair)).ok).toBe(false);
      // The same admin cannot count twice: no Approve button for them any more.
      expect(await card(page, SECRETS.pair).getByRole('button', { name: 'Approve', exact: true }).count()).toBe(0);

      const second = await adminJson<{ admin_key: string }>(home, ['admins', 'add', `second-${mode}`]);
      const other = await browser.newContext();
      const page2 = await other.newPage();
      await signIn(page2, served.origin, second.admin_key);
      await page2.goto(`${served.origin}/dashboard/approvals/${id}`);
      await decide(page2, card(page2, SECRETS.pair), 'Approve');
      await page2.getByRole('status').filter({ hasText: /Approved/ }).waitFor();
      expect((await ok(agent.client, 'get_secret', SECRETS.pair)).value).toBe(valueOf('pair'));
      await other.close();
      await page.close();
    });

    it('Cancel during the delay stops an approval from taking effect', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.slow)).error);
      await page.goto(`${served.origin}/dashboard/approvals/${id}`);
      await decide(page, card(page, SECRETS.slow), 'Approve');
      await page.getByRole('status').filter({ hasText: /takes effect when the delay ends/ }).waitFor();
      expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status).toBe('pending');
      await decide(page, card(page, SECRETS.slow), 'Cancel');
      await page.getByRole('status').filter({ hasText: /Cancelled/ }).waitFor();
      expect(await card(page, SECRETS.slow).textContent()).toMatch(/Cancelled/);
      expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status).toBe('denied');
      expect((await call(agent.client, 'get_secret', SECRETS.slow)).ok).toBe(false);
      await page.close();
    });

    it('a decision made with the CLI shows up in an open page without reload', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      await liveReady(page);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.cli)).error);
      await expect.poll(() => card(page, SECRETS.cli).count(), { timeout: 15_000 }).toBe(1);
      await page.evaluate(() => ((globalThis as unknown as { noReload: number }).noReload = 2));
      const cli = await admin(home, ['approvals', 'approve', id]);
      expect(cli.code, cli.stderr).toBe(0);
      const row = page.getByRole('row').filter({ hasText: scopeOf(SECRETS.cli) });
      await expect.poll(() => row.textContent(), { timeout: 15_000 }).toMatch(/Approved/);
      expect(await card(page, SECRETS.cli).count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as unknown as { noReload?: number }).noReload)).toBe(2);
      await page.close();
    });

    it("an agent's markup (a look-alike key, and a reason as a future agent could write it) is shown as text and no script runs", async () => {
      const page = await context.newPage();
      const seen = watch(page);
      await signIn(page, served.origin, home.adminKey);
      await liveReady(page);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.markup)).error);
      // What a future agent could write through `reason`: set in its record, as the agent's words,
      // and the store's change marker moved as a write of another process moves it.
      const recordPath = `${home.dir}/state/approvals/${id}.json`;
      const record = JSON.parse(readFileSync(recordPath, 'utf8'));
      record.agent_reason = XSS_REASON;
      writeFileSync(`${recordPath}.tmp`, JSON.stringify(record));
      renameSync(`${recordPath}.tmp`, recordPath);
      writeFileSync(`${home.dir}/state/version`, 'changed-by-test');
      const request = card(page, SECRETS.markup);
      await expect.poll(() => request.locator('blockquote').textContent(), { timeout: 15_000 }).toBe(XSS_REASON);
      expect(await request.textContent()).toContain(SECRETS.markup.key);
      expect(await page.locator('main img').count()).toBe(0);
      await page.goto(`${served.origin}/dashboard/approvals/${id}`);
      expect(await page.locator('blockquote').textContent()).toBe(XSS_REASON);
      expect(await page.locator('main img').count()).toBe(0);
      expect(seen).toEqual({ dialogs: [], errors: [] });
      await page.close();
    });

    it('a cross-site POST (another origin, no CSRF token) is refused and changes nothing', async () => {
      const page = await context.newPage();
      await signIn(page, served.origin, home.adminKey);
      const id = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.csrf)).error);
      const cookie = (await context.cookies()).find((c) => c.name === 'ass_session')!;
      const post = (headers: Record<string, string>, body: string) =>
        raw({ url: served.origin, method: 'POST', path: `/dashboard/approvals/${id}/approve`, headers: { cookie: `ass_session=${cookie.value}`, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
      expect((await post({ origin: 'http://evil.example' }, '')).status).toBe(403);
      expect((await post({}, '')).status).toBe(403);
      expect((await post({}, '_csrf=guessed')).status).toBe(403);
      // A real page on another origin submitting a form at the dashboard from the same browser.
      const evil = await new Promise<Server>((resolve) => {
        const s = createServer((_req, res) => {
          res.writeHead(200, { 'content-type': 'text/html' });
          res.end(`<form id="f" method="post" action="${served.origin}/dashboard/approvals/${id}/approve"><input name="x" value="1"></form><script>document.getElementById('f').submit()</script>`);
        }).listen(0, '127.0.0.2', () => resolve(s));
      });
      const attacker = await context.newPage();
      await attacker.goto(`http://127.0.0.2:${(evil.address() as AddressInfo).port}/`);
      await attacker.waitForURL(new RegExp(`${served.origin}/dashboard/approvals/`));
      expect(await attacker.content()).not.toContain('Approved.');
      await attacker.close();
      evil.close();
      expect(await ok(agent.client, 'get_approval_status', { approval_id: id })).toMatchObject({ status: 'pending', approvals_received: 0 });
      await page.close();
    });

    it('every page passes an axe scan (no serious or critical violation) at laptop and phone width; screenshots are saved', async () => {
      const page = await context.newPage();
      const pages: [string, string][] = [['sign-in', '/dashboard/sign-in']];
      for (const [name, route] of pages) {
        await page.goto(`${served.origin}${route}`);
        expect(await axeViolations(page), name).toEqual([]);
        await screenshot(page, `${mode}-${name}-laptop`);
      }
      await signIn(page, served.origin, home.adminKey);
      const pending = approvalIdOf((await fails(agent.client, 'get_secret', SECRETS.screens)).error);
      const signedIn: [string, string][] = [
        ['approvals', '/dashboard/approvals'],
        ['approval', `/dashboard/approvals/${pending}`],
        ['secrets', '/dashboard/secrets'],
        ['secret', `/dashboard/secrets/${SECRETS.stripe.namespace}/${SECRETS.stripe.key}`],
        ['agents', '/dashboard/agents'],
        ['audit', '/dashboard/audit'],
      ];
      for (const [width, height, label] of [[1280, 800, 'laptop'], [390, 844, 'phone']] as const) {
        await page.setViewportSize({ width, height });
        for (const [name, route] of signedIn) {
          await page.goto(`${served.origin}${route}`);
          expect(await axeViolations(page), `${name} at ${label}`).toEqual([]);
          await screenshot(page, `${mode}-${name}-${label}`);
        }
      }
      // Not wider than the phone: nothing scrolls sideways on the approvals page.
      await page.goto(`${served.origin}/dashboard/approvals`);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      if (process.env.ASS_UPDATE_DOCS_SCREENSHOTS === '1' && mode === 'serve') {
        // The README's pictures: one viewport each, kept small.
        await page.goto(`${served.origin}/dashboard/approvals/${pending}`);
        await page.screenshot({ path: path.join(REPO_ROOT, 'docs/dashboard-request-phone.png') });
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.goto(`${served.origin}/dashboard/approvals`);
        await page.screenshot({ path: path.join(REPO_ROOT, 'docs/dashboard-approvals.png') });
      }
      await page.close();
    });
  });
}
