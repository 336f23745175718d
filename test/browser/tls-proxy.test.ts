/**
 * The dashboard behind a TLS-terminating reverse proxy, as it is deployed: `serve --http` on
 * plain loopback HTTP, a proxy (node https, a self-signed certificate generated for this run)
 * in front at https://secrets.test:<port>, and `dashboard.public_url` saying so. Chromium
 * resolves secrets.test to 127.0.0.1 and reaches the dashboard only through the proxy: the
 * public origin is accepted (sign-in, an action behind a confirmation), every other origin is
 * refused, and the cookies are `Secure` with the `__Host-` prefix.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, adminJson, initHome, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { CHROMIUM, chromiumMissing, startServing, type ServedDashboard } from '../helpers/browser.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { raw } from '../helpers/remote-http.js';

const PUBLIC_HOST = 'secrets.test';

/** A TLS-terminating proxy: every request (streams too) forwarded to `upstream()` with its Host kept. */
function startTlsProxy(dir: string, upstream: () => number): Promise<{ server: Server; port: number }> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', `/CN=${PUBLIC_HOST}`, '-addext', `subjectAltName=DNS:${PUBLIC_HOST}`], { stdio: 'ignore' });
  const server = createHttpsServer({ cert: readFileSync(path.join(dir, 'cert.pem')), key: readFileSync(path.join(dir, 'key.pem')) }, (req, res) => {
    const forward = httpRequest({ host: '127.0.0.1', port: upstream(), method: req.method, path: req.url, headers: { ...req.headers, 'x-forwarded-proto': 'https' } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(forward);
    res.on('close', () => forward.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })));
}

const missing = chromiumMissing();
if (missing) {
  describeMissingPeer('the dashboard behind a TLS-terminating proxy', missing, 'bash scripts/peers/install-chromium.sh');
} else {
  describe('dashboard behind a TLS-terminating reverse proxy (dashboard.public_url is https)', () => {
    let home: Home;
    let served: ServedDashboard;
    let browser: Browser;
    let proxy: { server: Server; port: number };
    let certDir: string;
    let publicOrigin: string;

    beforeAll(async () => {
      certDir = mkdtempSync(path.join(tmpdir(), 'ass-tls-proxy-'));
      let upstreamPort = 0;
      proxy = await startTlsProxy(certDir, () => upstreamPort);
      publicOrigin = `https://${PUBLIC_HOST}:${proxy.port}`;
      home = await initHome();
      await setConfig(home.configPath, { 'dashboard.public_url': `${publicOrigin}/dashboard` });
      served = await startServing(home.configPath, 'serve');
      upstreamPort = Number(new URL(served.origin).port);
      browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage', `--host-resolver-rules=MAP ${PUBLIC_HOST} 127.0.0.1`] });
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await served?.stop();
      await new Promise<void>((resolve) => (proxy ? proxy.server.close(() => resolve()) : resolve()));
      proxy?.server.closeAllConnections();
      removeHome(home);
      if (certDir) rmSync(certDir, { recursive: true, force: true });
    });

    it('signs in and acts through the proxy; cookies are Secure and __Host- prefixed', async () => {
      // The certificate is this run's own: the test trusts it, as an operator's browser trusts theirs.
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(`${publicOrigin}/dashboard/sign-in`);
      const pre = (await context.cookies()).find((c) => c.name.endsWith('ass_signin'));
      expect(pre).toMatchObject({ name: '__Host-ass_signin', secure: true, httpOnly: true, sameSite: 'Strict', path: '/' });
      await page.getByLabel('Admin key').fill(home.adminKey);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL(`${publicOrigin}/dashboard/approvals`);
      const cookies = await context.cookies();
      expect(cookies.map((c) => c.name)).toContain('__Host-ass_session');
      expect(cookies.find((c) => c.name === '__Host-ass_session')).toMatchObject({ secure: true, httpOnly: true, sameSite: 'Strict', path: '/', domain: PUBLIC_HOST });
      expect(cookies.some((c) => c.name === 'ass_session')).toBe(false);

      // A state-changing form post from the public origin: stores a secret behind a confirmation.
      await page.goto(`${publicOrigin}/dashboard/secrets`);
      await page.getByLabel('Namespace', { exact: true }).fill('proxy/ns');
      await page.getByLabel('Key', { exact: true }).fill('PROXY_KEY');
      await page.getByLabel('Value', { exact: true }).fill('proxied-value');
      await page.getByRole('button', { name: 'Store', exact: true }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Yes, store' }).click();
      await page.waitForURL((u) => u.searchParams.get('done') === 'stored');
      expect(page.url().startsWith(`${publicOrigin}/dashboard/secrets/proxy/ns/PROXY_KEY`)).toBe(true);
      const listed = await adminJson<{ secrets: { namespace: string; key: string }[] }>(home, ['secrets', 'list', 'proxy/ns', '--json']);
      expect(JSON.stringify(listed)).toContain('PROXY_KEY');

      // Same session cookie and CSRF token, any other origin: refused and nothing changes.
      const session = cookies.find((c) => c.name === '__Host-ass_session')!;
      await page.goto(`${publicOrigin}/dashboard/secrets/proxy/ns/PROXY_KEY`);
      const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
      const body = new URLSearchParams({ _csrf: csrf }).toString();
      const target = `/dashboard/secrets/proxy/ns/PROXY_KEY/delete`;
      for (const origin of ['https://evil.test', `http://${PUBLIC_HOST}:${proxy.port}`, `https://${PUBLIC_HOST}:${proxy.port + 1}`, 'null']) {
        const refused = await raw({ url: served.origin, method: 'POST', path: target, headers: { host: `${PUBLIC_HOST}:${proxy.port}`, origin, cookie: `__Host-ass_session=${session.value}`, 'content-type': 'application/x-www-form-urlencoded' }, body });
        expect(refused.status, origin).toBe(403);
      }
      // A Host the proxy would never forward is refused too (the public host is the only one added).
      const foreignHost = await raw({ url: served.origin, path: '/dashboard/sign-in', headers: { host: `evil.test:${proxy.port}` } });
      expect(foreignHost.status).toBe(403);
      expect((await admin(home, ['secrets', 'get', 'proxy/ns', 'PROXY_KEY'])).stdout.trim()).toBe('proxied-value');
      await context.close();
    });
  });
}
