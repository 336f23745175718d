import { dirname } from 'node:path';
import { createPgDatabase, ensureSchema } from '../shared/pg/index.js';
import { createFileStateStore } from '../state/file-store.js';
import { STATE_MIGRATIONS } from '../state/pg-migrations.js';
import { createPgStateStore } from '../state/pg-store.js';
import type { StateStore } from '../state/store.js';
import type { Settings } from './settings.js';

/**
 * The state store the config names: the embedded file store (`state: { type: file }`, the
 * default, in data_dir) or PostgreSQL shared by every replica (`state: { type: postgres, url }`).
 * PostgreSQL's schema is checked (or migrated with `migrate_on_start: true`) before serving.
 */
export async function openStateStore(settings: Settings): Promise<StateStore> {
  const config = settings.config.state;
  if (config.type !== 'postgres') return createFileStateStore({ dir: settings.stateDir, legacyFile: settings.statePath });
  const db = createPgDatabase(config, { unavailableCode: 'STATE_UNAVAILABLE', role: 'state store', baseDir: dirname(settings.loaded.file), applicationName: 'agent-secret-store state' });
  try {
    await ensureSchema(db, [STATE_MIGRATIONS], { migrateOnStart: config.migrate_on_start, configHint: settings.loaded.file });
  } catch (error) {
    await db.close();
    throw error;
  }
  return createPgStateStore(db);
}
