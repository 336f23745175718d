/**
 * Dashboard sign-in sessions across two real `serve --http` replicas (separate processes from the
 * built CLI, each its own folder and config, one shared signing key) on one PostgreSQL (Debian's
 * server, started for this file), with no sticky sessions: a person's browser (a cookie jar over
 * plain HTTP) goes to A or B request by request. Both replicas read one test clock file, so the
 * idle and absolute limits are checked without waiting.
 *
 * Checked against one-line bugs (each failed this file):
 *  - SessionStore.end not removing the row (remove → get): the copied cookie kept working on A
 *  - the events stream's loop not re-reading its session (`stands()` → `true`): the stream on A outlived the sign-out on B
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { createPgDatabase, type PgDatabase } from '../../src/shared/pg/index.js';
import { DashboardBrowser, openEvents, within } from '../helpers/dashboard-http.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { raw } from '../helpers/remote-http.js';
import { writeReplicaHomes } from '../helpers/replica-homes.js';
import { spawnHttpServer, type SpawnedServer } from '../helpers/remote-server.js';
import { createTestClock, type TestClock } from '../helpers/test-clock.js';

const missing = postgresPeerMissing();
const MIN = 60_000;

/** A GET with exactly this cookie header (a copied cookie, presented by hand). */
const getWith = (url: string, p: string, cookie: string) => raw({ url, path: p, headers: { cookie } });

if (missing) {
  describeMissingPeer('dashboard sessions across two replicas on one PostgreSQL', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('dashboard sign-in sessions across two serve --http replicas on one PostgreSQL', () => {
    let peer: PostgresPeer;
    let root: string;
    let configs: string[];
    let clock: TestClock;
    let a: SpawnedServer;
    let b: SpawnedServer;
    let db: PgDatabase;
    const adminKey = generateAdminKey();
    const bobKey = generateAdminKey();
    let baseConfig: Record<string, unknown>;

    beforeAll(async () => {
      peer = await startPostgresPeer();
      const url = await peer.newDatabase('dashsessions');
      root = await mkdtemp(path.join(tmpdir(), 'ass-dash-sessions-'));
      const keyFile = path.join(root, 'store.key');
      await createKeyFile(keyFile);
      const secrets = path.join(root, 'secrets');
      await (await createFileBackend({ type: 'file', path: secrets, key_file: keyFile })).close();
      baseConfig = {
        version: 1,
        data_dir: '.',
        backend: { type: 'file', path: secrets, key_file: keyFile },
        state: { type: 'postgres', url, migrate_on_start: true, statement_timeout_ms: 5000, connect_timeout_ms: 2000 },
        server: { log_level: 'warn' },
        admins: [
          { id: 'alice', key_sha256: hashKey(adminKey) },
          { id: 'bob', key_sha256: hashKey(bobKey) },
        ],
        agents: [],
      };
      configs = await writeReplicaHomes(root, baseConfig);
      clock = createTestClock(Date.parse('2030-01-01T08:00:00Z'));
      [a, b] = await Promise.all([spawnHttpServer(configs[0]!, clock.env), spawnHttpServer(configs[1]!, clock.env)]);
      db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 2, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
    }, 180_000);

    afterAll(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await db?.close();
      await peer?.destroy();
      clock?.remove();
      if (root) await rm(root, { recursive: true, force: true });
    }, 60_000);

    const signedIn = async (on: SpawnedServer, key = adminKey): Promise<DashboardBrowser> => {
      const browser = new DashboardBrowser(on.url);
      await browser.signIn(key);
      return browser;
    };

    it('signed in on A, used on B; signed out on B, the copied cookie is refused on A at once; the table holds no cookie or CSRF token', async () => {
      const onA = await signedIn(a);
      const page = await onA.get('/dashboard/approvals');
      expect(page.status, page.body).toBe(200);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const onB = onA.at(b.url);
      const there = await onB.get('/dashboard/approvals');
      expect(there.status, there.body).toBe(200);
      expect(there.body).toContain('Signed in as <strong>alice</strong>');
      // The same CSRF token on both: a form loaded on A posts to B.
      expect(there.body).toContain(csrf);
      const cookie = onA.cookieHeader();
      const sessionId = /ass_session=([^;]+)/.exec(cookie)![1]!;
      const stored = (await db.query<{ row: string }>('SELECT t::text AS row FROM ass_dashboard_sessions t')).rows.map((r) => r.row).join('\n');
      expect(stored).toContain('alice');
      expect(stored).not.toContain(sessionId);
      expect(stored).not.toContain(csrf);

      await onB.signOut();
      const refused = await getWith(a.url, '/dashboard/approvals', cookie);
      expect(refused.status).toBe(303);
      expect(refused.headers.location).toMatch(/^\/dashboard\/sign-in/);
      expect((await getWith(a.url, '/dashboard/approvals?partial=1', cookie)).status).toBe(401);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
    }, 60_000);

    it('an events stream open on A ends when the session is signed out on B', async () => {
      const onA = await signedIn(a);
      const stream = openEvents(a.url, onA.cookieHeader());
      try {
        await within(stream.ready, 30_000, 'the stream\'s first event');
        let ended = false;
        void stream.ended.then(() => (ended = true));
        // Still open while the session lives (a page of A and one of B read meanwhile).
        expect((await onA.get('/dashboard/approvals')).status).toBe(200);
        expect((await onA.at(b.url).get('/dashboard/approvals')).status).toBe(200);
        expect(ended).toBe(false);
        await onA.at(b.url).signOut();
        await within(stream.ended, 30_000, 'the stream\'s end after sign-out on the other replica');
      } finally {
        stream.close();
      }
    }, 60_000);

    it('an events stream open on B ends when its session expires (30 min without a page request; the stream itself does not keep it alive)', async () => {
      const onA = await signedIn(a);
      const stream = openEvents(b.url, onA.cookieHeader());
      try {
        await within(stream.ready, 30_000, 'the stream\'s first event');
        clock.advance(31 * MIN);
        await within(stream.ended, 30_000, 'the stream\'s end at the idle limit');
      } finally {
        stream.close();
      }
    }, 60_000);

    it('the idle limit (30 min) holds across replicas: use on B keeps a session opened on A alive; 30 min without any request ends it on both', async () => {
      const onA = await signedIn(a);
      const onB = onA.at(b.url);
      clock.advance(20 * MIN);
      expect((await onB.get('/dashboard/approvals')).status).toBe(200);
      clock.advance(20 * MIN);
      // 40 min after sign-in, 20 after B's request: alive on A only because B's request reached the shared store.
      expect((await onA.get('/dashboard/approvals')).status).toBe(200);
      const cookie = onA.cookieHeader();
      clock.advance(31 * MIN);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
      expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(303);
    }, 60_000);

    it('the absolute limit (12 h) holds across replicas however busy the session is', async () => {
      const onA = await signedIn(a);
      const cookie = onA.cookieHeader();
      for (let i = 1; i <= 24; i++) {
        clock.advance(29 * MIN);
        // 29 min × 24 = 11 h 36 min: alive at every step, on A and B in turn.
        expect((await getWith(i % 2 ? b.url : a.url, '/dashboard/approvals', cookie)).status, `step ${i}`).toBe(200);
      }
      clock.advance(29 * MIN);
      expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(303);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
    }, 120_000);

    it('a session survives a restart of the replica that opened it (and of its peer)', async () => {
      const onA = await signedIn(a);
      const cookie = onA.cookieHeader();
      await a.stop();
      a = await spawnHttpServer(configs[0]!, clock.env);
      expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(200);
      await b.stop();
      b = await spawnHttpServer(configs[1]!, clock.env);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(200);
    }, 180_000);

    it('forged, altered and edited-in-the-store sessions are refused', async () => {
      const onA = await signedIn(a);
      const cookie = onA.cookieHeader();
      const id = /ass_session=([^;]+)/.exec(cookie)![1]!;
      const flip = id.slice(0, -1) + (id.endsWith('A') ? 'B' : 'A');
      expect((await getWith(b.url, '/dashboard/approvals', `ass_session=${flip}`)).status).toBe(303);
      expect((await getWith(b.url, '/dashboard/approvals', 'ass_session=' + 'x'.repeat(43))).status).toBe(303);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(200);
      // Someone with write access to the database makes alice's session bob's: it no longer opens.
      const { rowCount } = await db.query("UPDATE ass_dashboard_sessions SET admin_id = 'bob' WHERE admin_id = 'alice'");
      expect(rowCount).toBeGreaterThan(0);
      expect((await getWith(b.url, '/dashboard/approvals', cookie)).status).toBe(303);
      expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(303);
      await db.query("DELETE FROM ass_dashboard_sessions WHERE admin_id = 'bob'");
    }, 60_000);

    it('bob\'s key replaced in A\'s config: his sessions end on B too, alice\'s stay', async () => {
      const bob = await signedIn(b, bobKey);
      const bobCookie = bob.cookieHeader();
      const alice = await signedIn(b);
      const file = configs[0]!;
      const before = await readFile(file, 'utf8');
      try {
        await writeFile(file, JSON.stringify({ ...baseConfig, admins: [{ id: 'alice', key_sha256: hashKey(adminKey) }, { id: 'bob', key_sha256: hashKey(generateAdminKey()) }] }, null, 2), { mode: 0o600 });
        // A follows its config file live: bob's next request there ends every session of his.
        expect((await getWith(a.url, '/dashboard/approvals', bobCookie)).status).toBe(303);
        // B's config still names bob's old key, but his session is gone from the shared store.
        expect((await getWith(b.url, '/dashboard/approvals', bobCookie)).status).toBe(303);
        expect((await alice.at(a.url).get('/dashboard/approvals')).status).toBe(200);
      } finally {
        await writeFile(file, before, { mode: 0o600 });
      }
    }, 60_000);

    it('PostgreSQL stopped: pages fail closed (an error, no page and no sign-in form served as if signed in), the stream ends; started again: the same cookie works, no restart', async () => {
      const onA = await signedIn(a);
      const cookie = onA.cookieHeader();
      const stream = openEvents(b.url, cookie);
      try {
        await within(stream.ready, 30_000, 'the stream\'s first event');
        await peer.stop();
        const down = await getWith(a.url, '/dashboard/approvals', cookie);
        expect(down.status, down.body).toBe(500);
        expect(down.body).not.toContain('Signed in as');
        expect(down.body).not.toContain(peer.password);
        await within(stream.ended, 30_000, 'the stream\'s end while the store is unreachable');
      } finally {
        stream.close();
        await peer.start();
      }
      // Recovery: bounded retries while PostgreSQL finishes starting; the pools reconnect by themselves.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = (await getWith(b.url, '/dashboard/approvals', cookie)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 200));
      }
      expect(status).toBe(200);
      expect((await getWith(a.url, '/dashboard/approvals', cookie)).status).toBe(200);
    }, 120_000);
  });
}
