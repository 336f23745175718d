/**
 * The PostgreSQL secret backend. `createPostgresBackend(config, env)` validates the block, loads a
 * key file at once (a missing or loose key file is a config error before anything connects), and
 * returns a backend that opens the database on first use (see postgres-backend.ts). With
 * `check: true` (the default) it tries that first open now: a schema that is behind, a wrong key
 * or a store made with the other key source refuse start-up; an unreachable server does not
 * (calls fail with BACKEND_UNAVAILABLE until it answers).
 */
import { AssError, isAssError } from '../../shared/errors.js';
import { createPgDatabase, pgTlsRefused } from '../../shared/pg/pool.js';
import type { Clock } from '../../shared/types.js';
import { loadKeyFile, type KdfParams } from '../file/key-source.js';
import { PostgresBackendConfigSchema, type PostgresBackendConfig } from './config.js';
import { derivePassphraseKey, verifyKeyFileKey } from './key-check.js';
import { PostgresBackend } from './postgres-backend.js';

export { PostgresBackendConfigSchema, type PostgresBackendConfig } from './config.js';
export { PostgresBackend } from './postgres-backend.js';
export { SECRETS_MIGRATIONS } from './migrations.js';

export interface CreatePostgresBackendOptions {
  clock?: Clock;
  /** scrypt parameters used only when a passphrase store is created (tests may lower them). */
  kdfParams?: KdfParams;
  /** Try the first open now (default true). */
  check?: boolean;
  /** Config path named in the "run agent-secret-store migrate" message. */
  configHint?: string;
  /** Folder that relative TLS file paths resolve against. */
  baseDir?: string;
}

export async function createPostgresBackend(config: PostgresBackendConfig, env: NodeJS.ProcessEnv = process.env, options: CreatePostgresBackendOptions = {}): Promise<PostgresBackend> {
  const parsed = PostgresBackendConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(backend)'}: ${issue.message}`).join('; ');
    throw new AssError('CONFIG_INVALID', `Invalid postgres backend config: ${problems}`);
  }
  const { key_file: keyFile, passphrase_env: passphraseEnv, max_versions: maxVersions, migrate_on_start: migrateOnStart } = parsed.data;
  let openKey: (db: Parameters<typeof verifyKeyFileKey>[0]) => Promise<Awaited<ReturnType<typeof verifyKeyFileKey>>>;
  if (keyFile !== undefined) {
    const key = await loadKeyFile(keyFile);
    openKey = (db) => verifyKeyFileKey(db, key, `the key file ${keyFile}`);
  } else {
    const name = passphraseEnv as string;
    const passphrase = env[name];
    if (passphrase === undefined || passphrase === '') {
      throw new AssError('CONFIG_INVALID', `The environment variable ${name} (passphrase_env) is not set or empty; set it to the store's passphrase.`);
    }
    openKey = (db) => derivePassphraseKey(db, passphrase, name, options.kdfParams);
  }
  const db = createPgDatabase(parsed.data, { unavailableCode: 'BACKEND_UNAVAILABLE', role: 'postgres secret backend', baseDir: options.baseDir, applicationName: 'agent-secret-store backend' });
  const backend = new PostgresBackend({ db, openKey, maxVersions, migrateOnStart, configHint: options.configHint, clock: options.clock });
  if (options.check !== false) {
    try {
      await backend.ready();
    } catch (error) {
      // Unreachable now is not fatal (it may come back); anything else is, TLS refused included
      // (a server without TLS or an unverifiable certificate is a setting to fix: ssl).
      if (!(isAssError(error) && error.code === 'BACKEND_UNAVAILABLE') || pgTlsRefused(error)) {
        await db.close().catch(() => undefined);
        throw error;
      }
    }
  }
  return backend;
}
