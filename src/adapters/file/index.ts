/**
 * The embedded default backend: an encrypted local file store.
 *
 * `createFileBackend(config, env)` validates the config block, creates the store directory
 * (0700), loads the key (key file, or passphrase from `env[passphrase_env]` through scrypt) and
 * verifies it against the store's key check before returning.
 */
import path from 'node:path';
import type { SecretBackend } from '../backend.js';
import { ensurePrivateDir } from '../../shared/durable-file.js';
import { AssError } from '../../shared/errors.js';
import type { Clock } from '../../shared/types.js';
import { FileBackendConfigSchema, type FileBackendConfig } from './config.js';
import { FileBackend } from './file-backend.js';
import { loadKeyFileSource, loadPassphraseSource, type KdfParams } from './key-source.js';

export { FileBackendConfigSchema, type FileBackendConfig } from './config.js';
export { FileBackend, type FileBackendOptions } from './file-backend.js';
export { createKeyFile, loadKeyFile, DEFAULT_KDF_PARAMS, type KdfParams, type KeySource } from './key-source.js';

export interface CreateFileBackendOptions {
  /** Time source for `created_at`/`updated_at` (tests). */
  clock?: Clock;
  /** scrypt parameters used only when a passphrase store is created (tests may lower them). */
  kdfParams?: KdfParams;
}

/**
 * Builds the file backend. Throws `CONFIG_INVALID` for a bad config block, a missing passphrase
 * variable or an unusable key file, and `INTEGRITY_ERROR` for a wrong passphrase/key or a
 * tampered kdf.json.
 */
export async function createFileBackend(config: FileBackendConfig, env: NodeJS.ProcessEnv = process.env, options: CreateFileBackendOptions = {}): Promise<SecretBackend> {
  const parsed = FileBackendConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(backend)'}: ${issue.message}`).join('; ');
    throw new AssError('CONFIG_INVALID', `Invalid file backend config: ${problems}`);
  }
  const { path: dir, key_file: keyFile, passphrase_env: passphraseEnv, max_versions: maxVersions } = parsed.data;
  await ensurePrivateDir(dir);
  await ensurePrivateDir(path.join(dir, 'secrets'));
  let keySource;
  if (keyFile !== undefined) {
    keySource = await loadKeyFileSource(dir, keyFile);
  } else {
    const name = passphraseEnv as string;
    const passphrase = env[name];
    if (passphrase === undefined || passphrase === '') {
      throw new AssError('CONFIG_INVALID', `The environment variable ${name} (passphrase_env) is not set or empty; set it to the store's passphrase.`);
    }
    keySource = await loadPassphraseSource(dir, passphrase, name, options.kdfParams);
  }
  const backend = new FileBackend({ dir, keySource, maxVersions, clock: options.clock });
  await backend.openManifest();
  return backend;
}
