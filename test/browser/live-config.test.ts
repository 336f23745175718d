/**
 * An agent added in the dashboard of a running `serve --http` can use that same server at
 * once (no restart): its MCP client over streamable HTTP, with the key the page showed.
 * Revoking it in the dashboard ends its open session at the next call.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, initHome, ok, removeHome, type Home } from '../helpers/cli.js';
import { chromiumMissing, launchBrowser, signIn, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('agents added in the dashboard of serve --http', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('serve --http: an agent added in its dashboard works without a restart', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;

    beforeAll(async () => {
      home = await initHome();
      const set = await admin(home, ['secrets', 'set', 'production/web', 'WEB_TOKEN'], { input: 'web-value-live' });
      if (set.code !== 0) throw new Error(set.stderr);
      served = await startServing(home.configPath, 'serve');
      browser = await launchBrowser();
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
      removeHome(home);
    });

    it('adds an agent in the browser; its MCP client reads at once; revoking it ends the session', async () => {
      const page = await browser.newPage();
      await signIn(page, served.origin, home.adminKey);
      await page.goto(`${served.origin}/dashboard/agents`);
      await page.getByLabel('Agent id').fill('web-bot');
      await page.getByLabel('Grants, one scope a line').fill('secrets:read:production/web/*');
      await page.getByRole('button', { name: 'Add agent' }).click();
      const key = await page.getByLabel('Agent key').inputValue();
      expect(key).toMatch(/^ass_/);

      const client = new Client({ name: 'live-config', version: '1.0.0' });
      await client.connect(new StreamableHTTPClientTransport(new URL(`${served.origin}/mcp`), { requestInit: { headers: { 'x-agent-key': key } } }));
      try {
        expect((await ok(client, 'get_secret', { namespace: 'production/web', key: 'WEB_TOKEN' })).value).toBe('web-value-live');
        await page.goto(`${served.origin}/dashboard/agents`);
        await page.getByRole('article').filter({ hasText: 'web-bot' }).getByRole('button', { name: 'Revoke web-bot' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Yes, revoke' }).click();
        await page.waitForURL((u) => u.searchParams.get('done') === 'revoked');
        const after = await call(client, 'get_secret', { namespace: 'production/web', key: 'WEB_TOKEN' });
        expect(after.ok).toBe(false);
      } finally {
        await client.close().catch(() => undefined);
        await page.close();
      }
    });
  });
}
