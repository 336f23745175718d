import { dirname, join } from 'node:path';
import { loadOrCreateSigningKey } from '../approvals/tokens.js';
import { STATE_MIGRATIONS } from '../state/pg-migrations.js';
import { openComponentPool } from './postgres-setup.js';
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
  const rows = new PgSessionRows(await openComponentPool(runtime, STATE_MIGRATIONS, 'agent-secret-store sessions'));
  return { rows, deploymentKey };
}
