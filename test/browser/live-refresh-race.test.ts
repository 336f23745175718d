/**
 * The cause of the serve-mode quorum/cancel tests that timed out under load: a live update
 * (the page re-fetching its live region after a change) that was already loading when the
 * person clicked Approve replaced the page's forms while the confirmation was open, so "Yes"
 * submitted a detached form and nothing happened. Reproduced here deterministically, without
 * timing: the live region's fetch is held (Playwright routing) until the dialog is open, then
 * released; "Yes, approve" must still approve, and the page catches up after the dialog.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, approvalIdOf, connectAgent, fails, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';
import { chromiumMissing, launchBrowser, liveReady, signIn, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('live refresh during a confirmation', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('a live update arriving while a confirmation is open', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let agent: AgentConnection;

    beforeAll(async () => {
      home = await initHome();
      for (const key of ['FIRST', 'SECOND']) {
        const set = await admin(home, ['secrets', 'set', 'race/ns', key, '--tier', 'critical'], { input: `value-${key}` });
        if (set.code !== 0) throw new Error(set.stderr);
      }
      served = await startServing(home.configPath, 'dashboard');
      agent = await connectAgent(home.configPath, home.agentKey);
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await agent?.close();
      await served?.stop();
      removeHome(home);
    });

    it('does not swap the forms under an open dialog: "Yes, approve" approves', async () => {
      const first = approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'race/ns', key: 'FIRST' })).error);
      const page = await browser.newPage();
      await signIn(page, served.origin, home.adminKey);
      await liveReady(page);

      // Hold the next live-region fetch until the dialog is open.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      let fetched!: () => void;
      const requested = new Promise<void>((resolve) => (fetched = resolve));
      await page.route((url) => url.pathname === '/dashboard/approvals' && url.searchParams.get('partial') === '1', async (route) => {
        fetched();
        await held;
        await route.continue();
      });
      // A change elsewhere (another request) makes the page fetch its live region.
      await fails(agent.client, 'get_secret', { namespace: 'race/ns', key: 'SECOND' });
      await requested;

      const card = page.getByRole('article').filter({ hasText: 'race/ns/FIRST' });
      await card.getByRole('button', { name: 'Approve', exact: true }).click();
      const dialog = page.getByRole('dialog');
      await dialog.waitFor({ state: 'visible' });
      // The held response arrives now, while the person reads the confirmation.
      const arrived = page.waitForResponse((r) => r.url().includes('partial=1'));
      release();
      await arrived;
      await dialog.getByRole('button', { name: 'Yes, approve' }).click();
      await page.waitForURL((u) => u.searchParams.get('done') === 'approved');
      expect((await ok(agent.client, 'get_approval_status', { approval_id: first })).status).toBe('approved');
      await page.unroute('**/*');
      await page.close();
    });
  });
}
