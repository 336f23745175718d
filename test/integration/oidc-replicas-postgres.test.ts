/**
 * Issue 13 with issue 10: a sign-in through the identity provider (auth.oidc) across replicas.
 * Two real `serve --http` processes on one PostgreSQL (Debian's server, started for this file)
 * behind a loopback balancer the test points at one or the other, as the OAuth replicas suite
 * does; a real provider (oidc-provider, test/helpers/oidc-peer.ts) whose login and consent forms
 * are driven over HTTP. The sign-in starts on A, the provider's callback reaches B and completes
 * there; the same callback with the same cookie replayed to A is refused (taken once, by
 * `DELETE … RETURNING`); the session it opened on B is served by A too (the shared session
 * store); the table holds neither the cookie's id nor the state or nonce.
 *
 * Checked against one-line bugs (each failed this file):
 *  - the pending sign-in kept in a per-process Map again (nothing in the shared store: the first check of it failed)
 *  - PgOAuthStore.takeOidcPending reading with SELECT instead of DELETE … RETURNING (the row stayed
 *    after its callback)
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileBackend, createKeyFile } from '../../src/adapters/file/index.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { createPgDatabase, type PgDatabase } from '../../src/shared/pg/index.js';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { deliverCallback, servedBy, startSignIn } from '../helpers/oidc-callback.js';
import { OidcPeer } from '../helpers/oidc-peer.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { writeReplicaHomes } from '../helpers/replica-homes.js';
import { spawnHttpServer, type SpawnedServer } from '../helpers/remote-server.js';

const missing = postgresPeerMissing();

if (missing) {
  describeMissingPeer('Sign-in with an OpenID Connect provider across two replicas on one PostgreSQL', missing, POSTGRES_INSTALL_HINT);
} else {
  describe('auth.oidc across two serve --http replicas on one PostgreSQL', () => {
    const idp = new OidcPeer({ jane: { email: 'jane@example.com', name: 'Jane Doe', groups: ['engineering'] } });
    let peer: PostgresPeer;
    let root: string;
    let a: SpawnedServer;
    let b: SpawnedServer;
    let lb: HeaderProxy;
    let db: PgDatabase;
    const hostOf = (s: SpawnedServer): string => new URL(s.url).host;

    beforeAll(async () => {
      peer = await startPostgresPeer();
      const url = await peer.newDatabase('oidcreplicas');
      await idp.listen();
      root = await mkdtemp(path.join(tmpdir(), 'ass-oidc-replicas-'));
      const keyFile = path.join(root, 'store.key');
      await createKeyFile(keyFile);
      const secrets = path.join(root, 'secrets');
      const backend = await createFileBackend({ type: 'file', path: secrets, key_file: keyFile });
      await backend.close();
      const secretFile = path.join(root, 'oidc-client-secret');
      await writeFile(secretFile, `${idp.clientSecret}\n`, { mode: 0o600 });
      const config = {
        version: 1,
        data_dir: '.',
        backend: { type: 'file', path: secrets, key_file: keyFile },
        state: { type: 'postgres', url, migrate_on_start: true, statement_timeout_ms: 5000, connect_timeout_ms: 2000 },
        server: { log_level: 'warn' },
        admins: [{ id: 'alice', key_sha256: hashKey(generateAdminKey()) }],
        agents: [],
        auth: {
          oauth: { templates: { reader: { grants: ['secrets:read:team/**'] } } },
          oidc: { issuer: idp.issuer, client_id: idp.clientId, client_secret_file: secretFile, scopes: ['openid', 'email', 'profile', 'groups'], groups: { engineering: 'reader' } },
        },
      };
      const configs = await writeReplicaHomes(root, config);
      [a, b] = await Promise.all([spawnHttpServer(configs[0]!), spawnHttpServer(configs[1]!)]);
      lb = await startHeaderProxy(a.url, {}, { freshUpstream: true });
      await idp.startProvider(`${lb.url}/dashboard/sign-in/oidc/callback`);
      db = createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 2, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });
    }, 180_000);

    afterAll(async () => {
      await lb?.close();
      await Promise.all([a?.stop(), b?.stop()]);
      await db?.close();
      await idp.stop();
      await peer?.destroy();
      if (root) await rm(root, { recursive: true, force: true });
    }, 60_000);

    const pendingRows = async (): Promise<string[]> => (await db.query<{ row: string }>('SELECT t::text AS row FROM ass_oauth_oidc_pending t')).rows.map((r) => r.row);

    it('started on A, completed on B; the same callback with the same cookie replayed to A is refused; nothing secret in the table', async () => {
      lb.retarget(a.url);
      let mark = lb.seen.length;
      const started = await startSignIn(lb.url);
      expect(servedBy(lb, mark, '/dashboard/sign-in/oidc')).toEqual([hostOf(a)]);
      const asked = new URL(started.authorizationUrl);
      const rows = await pendingRows();
      expect(rows).toHaveLength(1);
      for (const secret of [started.cookie.split('=')[1]!, asked.searchParams.get('state')!, asked.searchParams.get('nonce')!]) expect(rows[0]).not.toContain(secret);

      const callback = await idp.signInOverHttp(started.authorizationUrl, 'jane');
      lb.retarget(b.url);
      mark = lb.seen.length;
      const done = await deliverCallback(lb.url, callback, started.cookie);
      expect(done.status, done.body).toBe(200);
      expect(done.body).toContain('Signed in as <code>oidc:jane (jane@example.com)</code>');
      expect(servedBy(lb, mark, '/dashboard/sign-in/oidc/callback')).toEqual([hostOf(b)]);
      const own = await fetch(`${lb.url}/dashboard/sign-ins`, { headers: { cookie: done.session! }, redirect: 'manual' });
      expect(own.status).toBe(200);
      expect(await pendingRows()).toHaveLength(0);

      // The session the callback opened on B is in the shared store: A serves it as well (no sticky sessions).
      lb.retarget(a.url);
      mark = lb.seen.length;
      const onA = await fetch(`${lb.url}/dashboard/sign-ins`, { headers: { cookie: done.session! }, redirect: 'manual' });
      expect(onA.status).toBe(200);
      expect(await onA.text()).toContain('oidc:jane (jane@example.com)');
      expect(servedBy(lb, mark, '/dashboard/sign-ins')).toEqual([hostOf(a)]);

      const replay = await deliverCallback(lb.url, callback, started.cookie);
      expect(replay.status, replay.body).toBe(401);
      expect(replay.body).toContain('expired or was already used');
      expect(replay.session).toBeUndefined();

      // Both replicas wrote one audit chain: the sign-in once (B), the replay's refusal nowhere as a sign-in.
      const { rows: audit } = await db.query<{ record: string }>('SELECT record FROM ass_audit ORDER BY seq');
      const signIns = audit.map((r) => JSON.parse(r.record) as Record<string, unknown>).filter((r) => r.action === 'dashboard.sign_in' && r.outcome === 'ok');
      expect(signIns.map((r) => r.actor)).toEqual(['oidc:jane (jane@example.com)']);
      for (const s of [a, b]) expect(s.stderr()).not.toContain(idp.clientSecret);
    });
  });
}
