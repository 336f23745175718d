/**
 * The OAuth store contract on PostgreSQL (Debian's server, started for this file by
 * test/helpers/postgres-peer.ts): each case gets a new database; each store instance has its own
 * pool, as replicas have. And `agent-secret-store migrate` (migrateAll) creates the 'oauth'
 * tables in the state database when `auth.oauth` is set, and only then.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrateAll } from '../../src/server/postgres-setup.js';
import { loadSettings } from '../../src/server/settings.js';
import { generateAdminKey, hashKey } from '../../src/server/keys.js';
import { OAUTH_MIGRATIONS } from '../../src/server/oauth/pg-migrations.js';
import { PgOAuthStore } from '../../src/server/oauth/pg-store.js';
import { applyMigrations, createPgDatabase } from '../../src/shared/pg/index.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { runOAuthStoreContract } from './oauth-store-contract.js';

const missing = postgresPeerMissing();
let peerStarting: Promise<PostgresPeer> | undefined;
const peer = () => (peerStarting ??= startPostgresPeer());
const connect = (url: string) => createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 4, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });

if (missing) {
  describeMissingPeer('postgres OAuth store', missing, POSTGRES_INSTALL_HINT);
} else {
  afterAll(async () => {
    if (peerStarting) await (await peerStarting).destroy();
  });

  runOAuthStoreContract('postgres', async () => {
    const url = await (await peer()).newDatabase('oauth');
    const admin = connect(url);
    await applyMigrations(admin, [OAUTH_MIGRATIONS]);
    const stores: PgOAuthStore[] = [];
    return {
      open: async () => {
        const store = new PgOAuthStore(connect(url));
        stores.push(store);
        return store;
      },
      dump: async () => {
        const tables = ['ass_oauth_clients', 'ass_oauth_grants', 'ass_oauth_codes', 'ass_oauth_pending', 'ass_oauth_oidc_pending'];
        const parts = await Promise.all(tables.map(async (t) => (await admin.query<{ row: string }>(`SELECT t::text AS row FROM ${t} t`)).rows.map((r) => r.row).join('\n')));
        return parts.join('\n');
      },
      cleanup: async () => {
        await Promise.all(stores.map((s) => s.close()));
        await admin.close();
      },
    };
  });

  describe('migrate and the oauth component', () => {
    it('with auth.oauth, migrate applies oauth 1 and 2 in the state database (each once, of two at once); without it, not', async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'ass-oauth-migrate-'));
      try {
        const settingsFor = async (name: string, oauth: boolean) => {
          const url = await (await peer()).newDatabase(name);
          const file = path.join(dir, `${name}.yaml`);
          const config = { version: 1, data_dir: '.', backend: { type: 'file', path: './secrets', key_file: './store.key' }, state: { type: 'postgres', url }, admins: [{ id: 'alice', key_sha256: hashKey(generateAdminKey()) }], agents: [], ...(oauth ? { auth: { oauth: {} } } : {}) };
          await writeFile(file, JSON.stringify(config), { mode: 0o600 });
          return loadSettings(file, {});
        };
        const withOAuth = await settingsFor('migoauth', true);
        const dry = await migrateAll(withOAuth, { dryRun: true });
        expect(dry[0]!.pending).toContainEqual({ component: 'oauth', version: 1, name: OAUTH_MIGRATIONS.migrations[0]!.name });
        const [one, two] = await Promise.all([migrateAll(withOAuth), migrateAll(withOAuth)]);
        const applied = [...one![0]!.applied, ...two![0]!.applied].filter((m) => m.component === 'oauth');
        expect(applied.map((m) => m.version).sort()).toEqual(OAUTH_MIGRATIONS.migrations.map((m) => m.version));
        expect(OAUTH_MIGRATIONS.migrations.map((m) => m.version)).toEqual([1, 2]);
        const without = await migrateAll(await settingsFor('mignooauth', false));
        expect(without[0]!.applied.map((m) => m.component)).not.toContain('oauth');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
