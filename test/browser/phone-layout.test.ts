/**
 * Every dashboard page at a phone's width (390x844) in chromium, with the longest content an
 * agent or a human can put there (the deepest namespace, long keys, many scopes, a long reason):
 * nothing scrolls sideways — neither the page nor any box inside it (tables stack into one card
 * per row). Screenshots go to test-artifacts/; with ASS_UPDATE_DOCS_SCREENSHOTS=1 the README's
 * phone pictures in docs/ are refreshed.
 */
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, approvalIdOf, connectAgent, fails, initHome, ok, REPO_ROOT, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';
import { chromiumMissing, launchBrowser, screenshot, signIn, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';

const LONG_NS = 'production/payments-eu-west/region-one/cluster-blue/service-checkout/team-alpha/stage-two/final';
const LONG_KEY = 'STRIPE_RESTRICTED_WEBHOOK_SIGNING_SECRET_FOR_THE_CHECKOUT_SERVICE_2026';

/** Elements that scroll sideways (their content is wider than their box), and the page's own width. */
async function sidewaysOverflow(page: Page): Promise<{ page: number; boxes: string[] }> {
  return page.evaluate(() => {
    const boxes: string[] = [];
    for (const el of Array.from(document.querySelectorAll('body *'))) {
      if (['INPUT', 'TEXTAREA', 'SELECT', 'OPTION'].includes(el.tagName)) continue; // their text scrolls inside, by design
      const style = getComputedStyle(el);
      if (style.overflowX === 'hidden' || style.overflowX === 'clip') continue; // clipped, not scrollable (visually-hidden)
      const rect = el.getBoundingClientRect();
      if (rect.width === 0 && rect.right <= document.documentElement.clientWidth + 1) continue;
      if (el.scrollWidth > el.clientWidth + 1 && style.overflowX !== 'visible') boxes.push(`${el.tagName.toLowerCase()}.${el.className} scrolls: ${el.scrollWidth} > ${el.clientWidth}`);
      // Content spilling out of its box (e.g. an unbreakable word) past the page's edge.
      if (style.overflowX === 'visible' && el.clientWidth > 0 && rect.left + el.scrollWidth > document.documentElement.clientWidth + 1) boxes.push(`${el.tagName.toLowerCase()}.${el.className} spills to ${Math.round(rect.left + el.scrollWidth)}`);
      if (rect.right > document.documentElement.clientWidth + 1) boxes.push(`${el.tagName.toLowerCase()}.${el.className} ends at ${Math.round(rect.right)}`);
    }
    return { page: document.documentElement.scrollWidth, boxes: boxes.slice(0, 10) };
  });
}

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('dashboard at phone width', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('dashboard at 390 px wide: no page scrolls sideways', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let agent: AgentConnection;
    let pending: string;

    beforeAll(async () => {
      home = await initHome();
      for (const [ns, key, tier] of [[LONG_NS, LONG_KEY, 'critical'], ['team/a', 'SHORT', 'standard'], [LONG_NS, `${LONG_KEY}_B`, 'sensitive']] as const) {
        const set = await admin(home, ['secrets', 'set', ns, key, '--tier', tier], { input: `value-${key}` });
        if (set.code !== 0) throw new Error(set.stderr);
      }
      await addAgent(home, 'a-rather-long-agent-identifier-for-the-checkout-service', [`secrets:read:${LONG_NS}/**`, `secrets:list:${LONG_NS}/**`, 'secrets:read:team/**'], ['--deny', `secrets:*:${LONG_NS}/${LONG_KEY}_B`]);
      served = await startServing(home.configPath, 'dashboard');
      agent = await connectAgent(home.configPath, home.agentKey);
      pending = approvalIdOf((await fails(agent.client, 'get_secret', { namespace: LONG_NS, key: LONG_KEY, reason: 'Rotating the checkout webhook after the incident review; needs the current signing secret to verify the replay. '.repeat(3).trim() })).error);
      // One decided request, for the "Recent decisions" table.
      const other = (await ok(agent.client, 'request_token', { scopes: [`secrets:read:${LONG_NS}/${LONG_KEY}`, `secrets:read:${LONG_NS}/**`], ttl: '5m', reason: 'x' })).approval_id as string;
      const denied = await admin(home, ['approvals', 'deny', other, '--yes']);
      if (denied.code !== 0) throw new Error(denied.stderr);
      browser = await launchBrowser();
    }, 240_000);

    afterAll(async () => {
      await browser?.close();
      await agent?.close();
      await served?.stop();
      removeHome(home);
    });

    it('every page fits 390 px: no sideways scrolling of the page or of any box in it', async () => {
      const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
      const page = await context.newPage();
      await page.goto(`${served.origin}/dashboard/sign-in`);
      expect(await sidewaysOverflow(page), 'sign-in').toEqual({ page: 390, boxes: [] });
      await signIn(page, served.origin, home.adminKey);
      const pages: [string, string][] = [
        ['approvals', '/dashboard/approvals'],
        ['approval', `/dashboard/approvals/${pending}`],
        ['secrets', '/dashboard/secrets'],
        ['secrets-namespace', `/dashboard/secrets?namespace=${encodeURIComponent(LONG_NS)}`],
        ['secret', `/dashboard/secrets/${LONG_NS}/${LONG_KEY}`],
        ['agents', '/dashboard/agents'],
        ['audit', '/dashboard/audit'],
      ];
      for (const [name, route] of pages) {
        await page.goto(`${served.origin}${route}`);
        expect(await page.locator('main').textContent(), name).not.toMatch(/There is no such page|Something went wrong/);
        expect(await sidewaysOverflow(page), name).toEqual({ page: 390, boxes: [] });
        await screenshot(page, `phone-${name}`);
      }
      // The stacked tables still say what each value is.
      await page.goto(`${served.origin}/dashboard/secrets`);
      const row = page.locator('tbody tr').filter({ hasText: 'SHORT' });
      expect(await row.locator('td[data-label="Tier"]').textContent()).toBe('standard');
      if (process.env.ASS_UPDATE_DOCS_SCREENSHOTS === '1') {
        await page.screenshot({ path: path.join(REPO_ROOT, 'docs/dashboard-secrets-phone.png') });
        await page.goto(`${served.origin}/dashboard/approvals/${pending}`);
        await page.screenshot({ path: path.join(REPO_ROOT, 'docs/dashboard-request-phone.png') });
      }
      await context.close();
    });
  });
}
