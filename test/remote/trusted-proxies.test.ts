/**
 * `dashboard.trusted_proxies` end to end, on a real `serve --http` process (the built CLI) with
 * the dashboard: a proxy listed there (here: loopback, the test's own connections) has its
 * X-Forwarded-For believed for the per-address limits of /oauth/register, the address the
 * consent page shows, and the audit records of sign-in and consent; without the setting (or
 * from an address not listed) the header is ignored and the TCP peer is the client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DashboardBrowser } from '../helpers/dashboard-http.js';
import { raw } from '../helpers/remote-http.js';
import { makeConfig, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';

const REDIRECT = 'http://127.0.0.1:9/callback';
const OAUTH = { auth: { oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } } } };

const register = (server: SpawnedServer, forwardedFor: string) =>
  raw({ url: server.url, method: 'POST', path: '/oauth/register', headers: { 'content-type': 'application/json', 'x-forwarded-for': forwardedFor }, body: JSON.stringify({ client_name: 'proxy test', redirect_uris: [REDIRECT] }) });

const audit = (config: RemoteConfig): Record<string, unknown>[] =>
  readFileSync(path.join(config.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

/** Registers a client, opens its authorize URL in `browser` and returns the consent page's HTML. */
async function consentPage(server: SpawnedServer, browser: DashboardBrowser, forwardedFor: string): Promise<{ html: string; path: string }> {
  const registered = await register(server, forwardedFor);
  expect(registered.status, registered.body).toBe(201);
  const clientId = (JSON.parse(registered.body) as { client_id: string }).client_id;
  const authorize = new URL(`${server.url}/oauth/authorize`);
  const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
  for (const [k, v] of Object.entries({ client_id: clientId, redirect_uri: REDIRECT, response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', state: 's' })) authorize.searchParams.set(k, v);
  const consent = await browser.authorize(authorize);
  const page = await browser.get(consent);
  expect(page.status, page.body).toBe(200);
  return { html: page.body, path: consent };
}

describe('dashboard.trusted_proxies', () => {
  let config: RemoteConfig | undefined;
  let server: SpawnedServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await config?.cleanup();
    config = undefined;
  });

  it('from a trusted proxy: register limits per forwarded address; the consent page and the audit show the forwarded address', async () => {
    config = await makeConfig({ agents: [], dashboard: { trusted_proxies: ['127.0.0.1', '::1'] }, extra: OAUTH });
    server = await spawnHttpServer(config.configPath);
    // 10 registrations a minute per address: the 11th from one address is refused, another address still registers.
    for (let i = 0; i < 10; i++) expect((await register(server, '198.51.100.1')).status).toBe(201);
    expect((await register(server, '198.51.100.1')).status).toBe(429);
    // A client that writes its own X-Forwarded-For entry does not pick its bucket: the proxy's nearest entry counts.
    expect((await register(server, '198.51.100.2, 198.51.100.1')).status).toBe(429);
    expect((await register(server, '198.51.100.2')).status).toBe(201);

    const browser = new DashboardBrowser(server.url, { 'x-forwarded-for': '203.0.113.9' });
    await browser.signIn(config.adminKey);
    const { html, path: consent } = await consentPage(server, browser, '203.0.113.9');
    expect(html).toContain('Asked from');
    expect(html).toContain('<code>203.0.113.9</code>');
    await browser.allow(consent, 'template:reader');
    const records = audit(config);
    expect(records.find((r) => r.action === 'dashboard.sign_in')).toMatchObject({ outcome: 'ok', reason: 'from 203.0.113.9' });
    expect(records.find((r) => r.action === 'oauth.consent')!.reason).toMatch(/, asked from 203\.0\.113\.9$/);
  });

  it('without trusted proxies (or from an address not listed): X-Forwarded-For is ignored, the TCP peer is the client', async () => {
    config = await makeConfig({ agents: [], dashboard: { trusted_proxies: ['10.9.9.9'] }, extra: OAUTH });
    server = await spawnHttpServer(config.configPath);
    for (let i = 0; i < 10; i++) expect((await register(server, `198.51.100.${i + 1}`)).status).toBe(201);
    // Every registration was the one loopback peer: an 11th is refused whatever the header claims.
    expect((await register(server, '198.51.100.200')).status).toBe(429);

    await server.stop();
    await config.cleanup();
    config = await makeConfig({ agents: [], extra: OAUTH });
    server = await spawnHttpServer(config.configPath);
    const browser = new DashboardBrowser(server.url, { 'x-forwarded-for': '203.0.113.9' });
    await browser.signIn(config.adminKey);
    const { html } = await consentPage(server, browser, '203.0.113.9');
    expect(html).not.toContain('203.0.113.9');
    expect(html).toContain('<code>127.0.0.1</code>');
    expect(audit(config).find((r) => r.action === 'dashboard.sign_in')).toMatchObject({ reason: 'from 127.0.0.1' });
  });
});
