import { dirname, join } from 'node:path';
import { loadOrCreateSigningKey } from '../approvals/tokens.js';
import { createPgDatabase, ensureSchema } from '../shared/pg/index.js';
import { STATE_MIGRATIONS } from '../state/pg-migrations.js';
import { PgSessionRows } from '../state/pg-session-rows.js';
import { FileSessionRows, type SessionRowStore } from '../state/session-rows.js';
import type { Runtime } from './runtime.js';

export { sessionEnded, type SessionBounds } from '../state/session-rows.js';

/** Where the dashboard's sign-in sessions are kept, and the deployment key that seals them. */
export interface SessionRowsOpened {
  rows: SessionRowStore;
  /** The token-signing key (shared by every replica, docs/scale.md): sessions are sealed under it. */
  deploymentKey: Uint8Array;
}

/**
 * Opens the session rows where the rest of the shared state is: `sessions.json` beside
 * state.json (every process on the data_dir), or the state database (`state: { type: postgres }`,
 * state schema version 3) through a small pool of its own that closes with the runtime.
 */
export async function openSessionRows(runtime: Runtime): Promise<SessionRowsOpened> {
  const deploymentKey = await loadOrCreateSigningKey(runtime.settings.signingKeyPath);
  const state = runtime.settings.config.state;
  if (state.type !== 'postgres') return { rows: new FileSessionRows(join(dirname(runtime.settings.statePath), 'sessions.json')), deploymentKey };
  const db = createPgDatabase({ ...state, pool_max: Math.min(state.pool_max, 4) }, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', baseDir: dirname(runtime.settings.loaded.file), applicationName: 'agent-secret-store sessions' });
  try {
    await ensureSchema(db, [STATE_MIGRATIONS], { migrateOnStart: state.migrate_on_start, configHint: runtime.settings.loaded.file });
  } catch (error) {
    await db.close();
    throw error;
  }
  const rows = new PgSessionRows(db);
  const close = runtime.close.bind(runtime);
  runtime.close = async () => {
    await close();
    await rows.close();
  };
  return { rows, deploymentKey };
}
