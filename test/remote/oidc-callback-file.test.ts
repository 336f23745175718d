/**
 * Issue 13: a sign-in through the identity provider (auth.oidc) does not depend on which process
 * the provider's callback reaches. Two `serve --http` processes on one home (the file state
 * store: oauth.json beside state.json) behind a loopback balancer the test points at one or the
 * other; a real provider (oidc-provider, test/helpers/oidc-peer.ts) whose login and consent forms
 * are driven over HTTP. The PostgreSQL version is test/integration/oidc-replicas-postgres.test.ts.
 *
 * Checked against one-line bugs (each failed this file):
 *  - the pending sign-in kept in a per-process Map again (nothing in the shared store: the first check of it failed)
 *  - `delete data.oidc_pending[key]` removed from FileOAuthStore.takeOidcPending (the record stayed after its
 *    callback; the replay was then refused only by the provider's own single-use code)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, initHome, removeHome, type Home } from '../helpers/cli.js';
import { startServing, type ServedDashboard } from '../helpers/browser.js';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { deliverCallback, servedBy, startSignIn } from '../helpers/oidc-callback.js';
import { OidcPeer } from '../helpers/oidc-peer.js';

describe('auth.oidc on the file state store: the provider’s callback may reach another process', () => {
  const idp = new OidcPeer({ jane: { email: 'jane@example.com', name: 'Jane Doe', groups: ['engineering'] } });
  let home: Home;
  let a: ServedDashboard;
  let b: ServedDashboard;
  let lb: HeaderProxy;
  const hostOf = (s: ServedDashboard): string => new URL(s.origin).host;

  beforeAll(async () => {
    await idp.listen();
    home = await initHome({
      auth: {
        agent_keys: true,
        oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } },
        oidc: { issuer: idp.issuer, client_id: idp.clientId, client_secret_file: 'oidc-client-secret', scopes: ['openid', 'email', 'profile', 'groups'], groups: { engineering: 'reader' } },
      },
    });
    writeFileSync(path.join(home.dir, 'oidc-client-secret'), `${idp.clientSecret}\n`, { mode: 0o600 });
    [a, b] = await Promise.all([startServing(home.configPath, 'serve'), startServing(home.configPath, 'serve')]);
    lb = await startHeaderProxy(a.origin, {}, { freshUpstream: true });
    await idp.startProvider(`${lb.url}/dashboard/sign-in/oidc/callback`);
  }, 180_000);

  afterAll(async () => {
    await lb?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await idp.stop();
    removeHome(home);
  }, 60_000);

  it('started on A, completed on B; the same callback with the same cookie replayed to A is refused; nothing secret in oauth.json', async () => {
    lb.retarget(a.origin);
    let mark = lb.seen.length;
    const started = await startSignIn(lb.url);
    expect(servedBy(lb, mark, '/dashboard/sign-in/oidc')).toEqual([hostOf(a)]);
    const asked = new URL(started.authorizationUrl);
    expect(asked.origin).toBe(idp.issuer);
    // Kept in oauth.json by the hash of the cookie's id, sealed: neither the id nor state or nonce is there.
    const stored = readFileSync(path.join(home.dir, 'oauth.json'), 'utf8');
    expect(Object.keys((JSON.parse(stored) as { oidc_pending: object }).oidc_pending)).toHaveLength(1);
    for (const secret of [started.cookie.split('=')[1]!, asked.searchParams.get('state')!, asked.searchParams.get('nonce')!]) expect(stored).not.toContain(secret);

    const callback = await idp.signInOverHttp(started.authorizationUrl, 'jane');
    expect(callback.pathname).toBe('/dashboard/sign-in/oidc/callback');
    lb.retarget(b.origin);
    mark = lb.seen.length;
    const done = await deliverCallback(lb.url, callback, started.cookie);
    expect(done.status, done.body).toBe(200);
    expect(done.body).toContain('Signed in as <code>oidc:jane (jane@example.com)</code>');
    expect(servedBy(lb, mark, '/dashboard/sign-in/oidc/callback')).toEqual([hostOf(b)]);
    // B's session works on B.
    const own = await fetch(`${lb.url}/dashboard/sign-ins`, { headers: { cookie: done.session! }, redirect: 'manual' });
    expect(own.status).toBe(200);
    expect(Object.keys((JSON.parse(readFileSync(path.join(home.dir, 'oauth.json'), 'utf8')) as { oidc_pending: object }).oidc_pending)).toHaveLength(0);

    // The same callback, with the same cookie (a copied request), on A: used once already.
    lb.retarget(a.origin);
    const replay = await deliverCallback(lb.url, callback, started.cookie);
    expect(replay.status, replay.body).toBe(401);
    expect(replay.body).toContain('expired or was already used');
    expect(replay.session).toBeUndefined();

    // Both processes wrote one audit chain; the person's sign-in is on it once.
    const records = readFileSync(path.join(home.dir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.filter((r) => r.action === 'dashboard.sign_in' && r.outcome === 'ok' && r.actor === 'oidc:jane (jane@example.com)')).toHaveLength(1);
    const verify = await admin(home, ['audit', 'verify']);
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    for (const s of [a, b]) expect(s.stderr()).not.toContain(idp.clientSecret);
  });
});
