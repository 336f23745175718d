/**
 * The dashboard session contract on PostgreSQL (Debian's server, started for this file by
 * test/helpers/postgres-peer.ts): each case gets a new database migrated to the state schema
 * (version 3 creates ass_dashboard_sessions); each rows instance has its own pool, as replicas do.
 */
import { afterAll } from 'vitest';
import { applyMigrations, createPgDatabase } from '../../src/shared/pg/index.js';
import { STATE_MIGRATIONS } from '../../src/state/pg-migrations.js';
import { PgSessionRows } from '../../src/state/pg-session-rows.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { POSTGRES_INSTALL_HINT, postgresPeerMissing, startPostgresPeer, type PostgresPeer } from '../helpers/postgres-peer.js';
import { runSessionStoreContract } from './session-store-contract.js';

const missing = postgresPeerMissing();
let peerStarting: Promise<PostgresPeer> | undefined;
const peer = () => (peerStarting ??= startPostgresPeer());
const connect = (url: string) => createPgDatabase({ url, statement_timeout_ms: 10_000, pool_max: 2, connect_timeout_ms: 5000, migrate_on_start: false }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store' });

if (missing) {
  describeMissingPeer('postgres dashboard sessions', missing, POSTGRES_INSTALL_HINT);
} else {
  afterAll(async () => {
    if (peerStarting) await (await peerStarting).destroy();
  });

  runSessionStoreContract('postgres', async () => {
    const url = await (await peer()).newDatabase('sessions');
    const admin = connect(url);
    await applyMigrations(admin, [STATE_MIGRATIONS]);
    const opened: PgSessionRows[] = [];
    return {
      open: async () => {
        const rows = new PgSessionRows(connect(url));
        opened.push(rows);
        return rows;
      },
      dump: async () => (await admin.query<{ row: string }>('SELECT t::text AS row FROM ass_dashboard_sessions t')).rows.map((r) => r.row).join('\n'),
      cleanup: async () => {
        await Promise.all(opened.map((r) => r.close()));
        await admin.close();
      },
    };
  });
}
