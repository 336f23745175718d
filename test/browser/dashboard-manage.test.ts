/**
 * The dashboard's other pages, by clicking in chromium against a real `dashboard` process:
 * store, reveal (admin key again, shown once, audited), rotate and delete a secret; add an
 * agent (key shown once, and it works at once over stdio) and revoke it; the audit page's
 * filters and chain status; and repeated wrong keys slowed down and audited.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, connectAgent, initHome, ok, removeHome, type Home } from '../helpers/cli.js';
import { chromiumMissing, launchBrowser, signIn, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { raw } from '../helpers/remote-http.js';

const audit = (home: Home) => readFileSync(path.join(home.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

async function confirm(page: Page, button: string, yes: string): Promise<void> {
  await page.getByRole('button', { name: button, exact: true }).click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor({ state: 'visible' });
  const before = page.url();
  await dialog.getByRole('button', { name: yes }).click();
  // The action answers with a redirect to a page that says what happened (`?done=…`).
  await page.waitForURL((u) => u.toString() !== before && u.searchParams.has('done'));
}

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('dashboard pages in a browser', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('dashboard: secrets, agents, audit and sign-in throttling', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;

    beforeAll(async () => {
      home = await initHome();
      served = await startServing(home.configPath, 'dashboard');
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
      removeHome(home);
    });

    it('stores, reveals once (admin key again), rotates and deletes a secret; each is audited under the admin', async () => {
      const page = await browser.newPage();
      await signIn(page, served.origin, home.adminKey);
      await page.goto(`${served.origin}/dashboard/secrets`);
      expect(await page.locator('main').textContent()).toMatch(/No secrets here yet/);
      await page.getByLabel('Namespace', { exact: true }).fill('production/web');
      await page.getByLabel('Key', { exact: true }).fill('WEB_TOKEN');
      await page.getByLabel('Value', { exact: true }).fill('web-value-1');
      await page.getByLabel('Tier').selectOption('sensitive');
      await confirm(page, 'Store', 'Yes, store');
      expect(page.url()).toBe(`${served.origin}/dashboard/secrets/production/web/WEB_TOKEN?done=stored`);
      expect(await page.locator('main').textContent()).not.toContain('web-value-1');
      expect(await page.locator('dl').textContent()).toMatch(/sensitive/);

      await page.getByLabel('Admin key').fill(home.agentKey);
      await page.getByRole('button', { name: 'Reveal' }).click();
      expect(await page.getByRole('alert').textContent()).toMatch(/That is an agent key/);
      await page.goto(`${served.origin}/dashboard/secrets/production/web/WEB_TOKEN`);
      await page.getByLabel('Admin key').fill(home.adminKey);
      await page.getByRole('button', { name: 'Reveal' }).click();
      expect(await page.getByLabel('Value', { exact: true }).inputValue()).toBe('web-value-1');
      // Shown once: going back to the page shows no value.
      await page.goto(`${served.origin}/dashboard/secrets/production/web/WEB_TOKEN`);
      expect(await page.content()).not.toContain('web-value-1');

      await confirm(page, 'Rotate', 'Yes, rotate');
      expect(await page.getByRole('status').textContent()).toMatch(/Rotated/);
      expect(await page.locator('dl').textContent()).toMatch(/Version2/);
      await confirm(page, 'Delete', 'Yes, delete');
      expect(await page.getByRole('status').textContent()).toMatch(/Deleted/);

      const human = audit(home).filter((r) => String(r.actor).startsWith('admin:') && String(r.action).startsWith('secrets.'));
      expect(human.map((r) => `${r.action} ${r.outcome} ${r.reason}`)).toEqual([
        'secrets.set allowed tier sensitive (dashboard)',
        // The agent key entered to reveal: refused, slowed and on record like a wrong sign-in.
        'secrets.reveal denied wrong admin key re-entered from 127.0.0.1 (failure 1)',
        'secrets.reveal allowed human read (dashboard)',
        'secrets.rotate allowed generated value (dashboard)',
        'secrets.delete allowed requested by a human (dashboard)',
      ]);
      expect(human.every((r) => r.actor === 'admin:admin')).toBe(true);
      expect(readFileSync(path.join(home.dir, 'audit.log'), 'utf8')).not.toContain('web-value-1');
      await page.close();
    });

    it('adds an agent (key shown once, usable at once) and revokes it; the audit page filters and shows the chain intact', async () => {
      const page = await browser.newPage();
      await signIn(page, served.origin, home.adminKey);
      await page.goto(`${served.origin}/dashboard/agents`);
      await page.getByLabel('Agent id').fill('bot-1');
      await page.getByLabel('Grants, one scope a line').fill('secrets:list:production/**\nsecrets:read:production/**');
      await page.getByRole('button', { name: 'Add agent' }).click();
      const key = await page.getByLabel('Agent key').inputValue();
      expect(key).toMatch(/^ass_[A-Za-z0-9_-]{43}$/);
      expect(JSON.parse(await page.getByLabel(/mcpServers entry/).inputValue()).mcpServers['agent-secret-store'].env.ASS_AGENT_KEY).toBe(key);
      expect(readFileSync(home.configPath, 'utf8')).not.toContain(key);

      const conn = await connectAgent(home.configPath, key);
      try {
        expect(await ok(conn.client, 'list_namespaces', {})).toMatchObject({ total: expect.any(Number) });
        // A request of this agent still pending when it is revoked shows as `revoked`.
        expect((await admin(home, ['secrets', 'set', 'production/crit', 'CRIT_KEY', '--tier', 'critical'], { input: 'crit-value' })).code).toBe(0);
        expect((await call(conn.client, 'get_secret', { namespace: 'production/crit', key: 'CRIT_KEY' })).ok).toBe(false);
        await page.goto(`${served.origin}/dashboard/agents`);
        const card = page.getByRole('article').filter({ hasText: 'bot-1' });
        expect(await card.textContent()).toMatch(/secrets:read:production\/\*\*/);
        await card.getByRole('button', { name: 'Revoke bot-1' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Yes, revoke' }).click();
        await page.waitForURL((u) => u.searchParams.get('done') === 'revoked');
        expect(await page.getByRole('status').textContent()).toMatch(/Revoked/);
        expect(await page.getByRole('article').filter({ hasText: 'bot-1' }).count()).toBe(0);
        const after = await call(conn.client, 'list_namespaces', {});
        expect(after.ok).toBe(false);
        await page.goto(`${served.origin}/dashboard/approvals`);
        expect(await page.getByRole('article').filter({ hasText: 'production/crit/CRIT_KEY' }).count()).toBe(0);
        expect(await page.getByRole('row').filter({ hasText: 'bot-1' }).textContent()).toMatch(/Revoked/);
      } finally {
        await conn.close();
      }

      await page.goto(`${served.origin}/dashboard/audit?action=agents.revoke`);
      expect(await page.locator('.verify').textContent()).toMatch(/Intact/);
      const rows = page.locator('tbody tr');
      expect(await rows.count()).toBe(1);
      expect(await rows.first().textContent()).toMatch(/admin:admin.*agents\.revoke.*agent bot-1 \(dashboard\)/);
      await page.close();
    });

    it('repeated wrong keys from one address are slowed down and audited', async () => {
      const attempt = async (key: string) => {
        const form = await raw({ url: served.origin, path: '/dashboard/sign-in' });
        const cookie = String(form.headers['set-cookie']).split(';')[0]!;
        const token = /name="_signin" value="([^"]+)"/.exec(form.body)![1]!;
        return raw({
          url: served.origin, method: 'POST', path: '/dashboard/sign-in',
          headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ _signin: token, admin_key: key }).toString(),
        });
      };
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await attempt(`ass_admin_wrong${i}`)).status);
      expect(statuses).toEqual([401, 401, 401, 401, 401]);
      // Now even the right key must wait: the address is slowed, not the key.
      const slowed = await attempt(home.adminKey);
      expect(slowed.status).toBe(429);
      expect(slowed.body).toMatch(/Too many wrong keys from this address\. Wait \d+ s/);
      const denied = audit(home).filter((r) => r.action === 'dashboard.sign_in' && r.outcome === 'denied');
      expect(denied).toHaveLength(5);
      expect(String(denied[4]!.reason)).toMatch(/an unknown admin key from .*\(failure 5\)/);
      expect(JSON.stringify(denied)).not.toContain('ass_admin_wrong');
    });
  });
}
