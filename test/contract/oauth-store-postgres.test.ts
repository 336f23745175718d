/**
 * The OAuth store contract on PostgreSQL (Debian's server, started for this file by
 * test/helpers/postgres-peer.ts): each case gets a new database; each store instance has its own
 * pool, as replicas have.
 */
import { afterAll } from 'vitest';
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
        const tables = ['ass_oauth_clients', 'ass_oauth_grants', 'ass_oauth_codes', 'ass_oauth_pending'];
        const parts = await Promise.all(tables.map(async (t) => (await admin.query<{ row: string }>(`SELECT t::text AS row FROM ${t} t`)).rows.map((r) => r.row).join('\n')));
        return parts.join('\n');
      },
      cleanup: async () => {
        await Promise.all(stores.map((s) => s.close()));
        await admin.close();
      },
    };
  });
}
