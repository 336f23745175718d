/**
 * Dashboard sign-in sessions with the embedded file state (one host): two `serve --http`
 * processes on one data_dir (the built CLI, one config) share `sessions.json`, so a browser may
 * reach either; and a session outlives a restart. Sessions of the `dashboard` command on the same
 * data_dir are the same ones.
 *
 * Checked against a one-line bug (it failed this file): the rows kept in a file of each process's
 * own (`sessions.json` → `sessions-${process.pid}.json`): B did not know A's session. And the
 * stream's check without the config (`standingSession` → `deps.sessions.peek`): the stream stayed open.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardBrowser, openEvents, within } from '../helpers/dashboard-http.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { raw } from '../helpers/remote-http.js';
import { makeConfig, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';

const getWith = (url: string, p: string, cookie: string) => raw({ url, path: p, headers: { cookie } });

describe('dashboard sessions shared by two serve --http processes on one data_dir', () => {
  let config: RemoteConfig;
  let a: SpawnedServer;
  let b: SpawnedServer;

  beforeAll(async () => {
    config = await makeConfig({ agents: [] });
    [a, b] = await Promise.all([spawnHttpServer(config.configPath), spawnHttpServer(config.configPath)]);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await config?.cleanup();
  }, 60_000);

  it('signed in on A, used on B, signed out on B: the copied cookie is refused on A; sessions.json holds no cookie or CSRF token', async () => {
    const onA = new DashboardBrowser(a.url);
    await onA.signIn(config.adminKey);
    const page = await onA.get('/dashboard/approvals');
    expect(page.status).toBe(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
    const cookie = onA.cookieHeader();
    const id = /ass_session=([^;]+)/.exec(cookie)![1]!;
    expect((await onA.at(b.url).get('/dashboard/approvals')).status).toBe(200);
    const stored = await readFile(path.join(config.dir, 'sessions.json'), 'utf8');
    expect(stored).not.toContain(id);
    expect(stored).not.toContain(csrf);
    expect(stored).not.toContain(config.adminKey);

    await onA.at(b.url).signOut();
    expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(303);
    expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
  }, 60_000);

  it('a session survives a restart of both processes', async () => {
    const onB = new DashboardBrowser(b.url);
    await onB.signIn(config.adminKey);
    const cookie = onB.cookieHeader();
    await Promise.all([a.stop(), b.stop()]);
    [a, b] = await Promise.all([spawnHttpServer(config.configPath), spawnHttpServer(config.configPath)]);
    expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(200);
    expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(200);
  }, 120_000);

  it('the admin\'s key replaced in the config: the live-update stream open on A closes, and the session is refused on B', async () => {
    const onA = new DashboardBrowser(a.url);
    await onA.signIn(config.adminKey);
    const cookie = onA.cookieHeader();
    const stream = openEvents(a.url, cookie);
    const before = await readFile(config.configPath, 'utf8');
    try {
      await within(stream.ready, 30_000, 'the stream\'s first event');
      const edited = JSON.parse(before) as { admins: { id: string; key_sha256: string }[] };
      edited.admins = edited.admins.map((admin) => ({ ...admin, key_sha256: hashKey(generateAdminKey()) }));
      await writeFile(config.configPath, JSON.stringify(edited, null, 2), { mode: 0o600 });
      await within(stream.ended, 30_000, 'the stream\'s end after the admin was re-keyed');
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
    } finally {
      stream.close();
      await writeFile(config.configPath, before, { mode: 0o600 });
    }
  }, 60_000);
});
