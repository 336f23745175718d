/**
 * The dashboard's handler in this process (a real HTTP server on 127.0.0.1:0, a real file
 * backend): under TLS the session cookie is `__Host-` and Secure; every state-changing route
 * refuses a request without the session's CSRF token, or from another origin, and changes
 * nothing; pages are never cached and carry the CSP.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashboard, type Dashboard } from '../../src/dashboard/app.js';
import { createLogger } from '../../src/server/logger.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { makeConfig, type RemoteConfig } from '../helpers/remote-server.js';
import { raw } from '../helpers/remote-http.js';

let config: RemoteConfig;
let runtime: Runtime;
let dashboard: Dashboard;
let server: Server;
let url: string;

beforeAll(async () => {
  config = await makeConfig({ agents: [{ id: 'alpha', grants: ['secrets:*:**'] }] });
  runtime = await openRuntime(loadSettings(config.configPath, {}), createLogger('error'));
  // Told it is behind TLS (as `serve --http` with http.tls is): the cookie flags follow.
  dashboard = createDashboard(runtime, { scheme: 'https' });
  server = createServer((req, res) => void dashboard.handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await dashboard?.close();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
  await runtime?.close();
  await config?.cleanup();
});

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const form = await raw({ url, path: '/dashboard/sign-in' });
  const pre = String(form.headers['set-cookie']).split(';')[0]!;
  const token = /name="_signin" value="([^"]+)"/.exec(form.body)![1]!;
  const signed = await raw({ url, method: 'POST', path: '/dashboard/sign-in', headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ _signin: token, admin_key: config.adminKey }).toString() });
  expect(signed.status).toBe(303);
  const setCookie = ([] as string[]).concat(signed.headers['set-cookie'] ?? []).find((c) => c.startsWith('__Host-ass_session='))!;
  expect(setCookie).toMatch(/; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
  const cookie = setCookie.split(';')[0]!;
  const page = await raw({ url, path: '/dashboard/approvals', headers: { cookie } });
  expect(page.status).toBe(200);
  expect(page.headers['cache-control']).toBe('no-store');
  expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  expect(page.headers['content-security-policy']).not.toContain('unsafe-inline');
  // Without auth.oauth there are no sign-ins to list: no Sign-ins link to a page that says so.
  const nav = /<nav aria-label="Main">(.*?)<\/nav>/s.exec(page.body)![1]!;
  expect([...nav.matchAll(/>([^<>]+)<\/a>/g)].map((m) => m[1])).toEqual(['Approvals', 'Secrets', 'Agents', 'Audit']);
  return { cookie, csrf: /name="_csrf" value="([^"]+)"/.exec(page.body)![1]! };
}

describe('dashboard CSRF and cookies', () => {
  it('refuses every state-changing route without the CSRF token or from another origin, and nothing changes', async () => {
    const { cookie, csrf } = await signIn();
    await runtime.backend.put({ namespace: 'ns', key: 'K', value: 'v1', secret_type: 'custom', access_tier: 'standard', metadata: {} }, { expectedVersion: 0 });
    const { approval } = await runtime.approvals.request({ kind: 'secret_access', agentId: 'alpha', scopes: ['secrets:read:ns/K'], ttlMs: 60_000, reason: 'test', rule: 'tier:critical', approvers: 1, delayMs: 0 });
    const routes: [string, Record<string, string>][] = [
      [`/dashboard/approvals/${approval.id}/approve`, {}],
      [`/dashboard/approvals/${approval.id}/deny`, {}],
      ['/dashboard/secrets', { namespace: 'ns', key: 'NEW', value: 'x', secret_type: 'custom', access_tier: '' }],
      ['/dashboard/secrets/ns/K/rotate', { mode: 'generate' }],
      ['/dashboard/secrets/ns/K/delete', {}],
      ['/dashboard/secrets/ns/K/reveal', { admin_key: config.adminKey }],
      ['/dashboard/agents', { id: 'intruder', grants: 'secrets:*:**' }],
      ['/dashboard/agents/alpha/revoke', {}],
      ['/dashboard/sign-out', {}],
    ];
    for (const [path, fields] of routes) {
      const post = (headers: Record<string, string>, extra: Record<string, string>) =>
        raw({ url, method: 'POST', path, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams({ ...fields, ...extra }).toString() });
      expect((await post({}, {})).status, `${path} without a token`).toBe(403);
      expect((await post({}, { _csrf: `${csrf}x` })).status, `${path} with a wrong token`).toBe(403);
      expect((await post({ origin: 'https://evil.example' }, { _csrf: csrf })).status, `${path} from another origin`).toBe(403);
      expect((await post({ 'sec-fetch-site': 'cross-site' }, { _csrf: csrf })).status, `${path} cross-site`).toBe(403);
    }
    expect((await runtime.approvals.find(approval.id)).view.status).toBe('pending');
    expect((await runtime.backend.get('ns', 'K'))?.version).toBe(1);
    expect(await runtime.backend.get('ns', 'NEW')).toBeNull();
    expect(loadSettings(config.configPath, {}).config.agents.map((a) => a.id)).toEqual(['alpha']);
    // The session survived every refused sign-out, and the token works.
    const approve = await raw({ url, method: 'POST', path: `/dashboard/approvals/${approval.id}/approve`, headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: `_csrf=${encodeURIComponent(csrf)}` });
    expect(approve.status).toBe(303);
    expect((await runtime.approvals.find(approval.id)).view.status).toBe('approved');
  });

  it('a page or the event stream without a session redirects to sign-in or answers 401', async () => {
    const page = await raw({ url, path: '/dashboard/secrets' });
    expect(page.status).toBe(303);
    expect(page.headers.location).toBe('/dashboard/sign-in?next=%2Fdashboard%2Fsecrets');
    expect((await raw({ url, path: '/dashboard/events' })).status).toBe(401);
    expect((await raw({ url, path: '/dashboard/approvals?partial=1', headers: { cookie: '__Host-ass_session=forged' } })).status).toBe(401);
  });
});
