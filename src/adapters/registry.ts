import { z } from 'zod';
import type { SecretBackend } from './backend.js';
import { CachedBackend, type ReadCacheOptions } from './cache/read-cache.js';
import { AssBackendConfigSchema } from './ass/config.js';
import { AwsBackendConfigSchema } from './aws/config.js';
import { FileBackendConfigSchema } from './file/config.js';
import { PostgresBackendConfigSchema } from './postgres/config.js';
import { createFileBackend } from './file/index.js';
import { VaultBackendConfigSchema } from './vault/config.js';

/**
 * Every backend's config schema, as one discriminated union on `type`. Each adapter owns its
 * own block; config is validated here apart from connecting (`createBackend`).
 */
export const BackendConfigSchema = z.discriminatedUnion('type', [
  FileBackendConfigSchema,
  VaultBackendConfigSchema,
  AwsBackendConfigSchema,
  AssBackendConfigSchema,
  PostgresBackendConfigSchema,
]);
export type BackendConfig = z.infer<typeof BackendConfigSchema>;

/** Fields of each backend block that are file paths, resolved against the config file's folder. */
export const BACKEND_PATH_FIELDS: Record<string, string[]> = { file: ['path', 'key_file'], ass: ['ca_file'], postgres: ['key_file'] };

/**
 * Connects the configured backend. The vendor clients (AWS SDK, node-vault, the remote client)
 * are loaded only when their backend is configured: a file-backend server, which MCP clients
 * spawn per session, does not pay for loading them at start-up. A remote backend whose block
 * has `cache:` is wrapped in the read cache (`cache` options: the server's clock and tiers).
 */
export async function createBackend(config: BackendConfig, env: Record<string, string | undefined> = process.env, cache: ReadCacheOptions = {}): Promise<SecretBackend> {
  const remote = async (): Promise<SecretBackend> => {
    switch (config.type) {
      case 'file':
        return createFileBackend(config, env);
      case 'vault':
        return (await import('./vault/index.js')).createVaultBackend(config, env);
      case 'aws':
        return (await import('./aws/index.js')).createAwsBackend(config, env);
      case 'ass':
        return (await import('./ass/index.js')).createAssBackend(config, env);
      case 'postgres':
        return (await import('./postgres/index.js')).createPostgresBackend(config, env);
    }
  };
  const backend = await remote();
  return (config.type === 'vault' || config.type === 'aws' || config.type === 'ass') && config.cache ? new CachedBackend(backend, config.cache, cache) : backend;
}
