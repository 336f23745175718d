import { z } from 'zod';
import type { SecretBackend } from './backend.js';
import { AssBackendConfigSchema, createAssBackend } from './ass/index.js';
import { AwsBackendConfigSchema, createAwsBackend } from './aws/index.js';
import { FileBackendConfigSchema, createFileBackend } from './file/index.js';
import { VaultBackendConfigSchema, createVaultBackend } from './vault/index.js';

/**
 * Every backend's config schema, as one discriminated union on `type`. Each adapter owns its
 * own block; config is validated here apart from connecting (`createBackend`).
 */
export const BackendConfigSchema = z.discriminatedUnion('type', [
  FileBackendConfigSchema,
  VaultBackendConfigSchema,
  AwsBackendConfigSchema,
  AssBackendConfigSchema,
]);
export type BackendConfig = z.infer<typeof BackendConfigSchema>;

/** Fields of each backend block that are file paths, resolved against the config file's folder. */
export const BACKEND_PATH_FIELDS: Record<string, string[]> = { file: ['path', 'key_file'], ass: ['ca_file'] };

export async function createBackend(config: BackendConfig, env: Record<string, string | undefined> = process.env): Promise<SecretBackend> {
  switch (config.type) {
    case 'file':
      return createFileBackend(config, env);
    case 'vault':
      return createVaultBackend(config, env);
    case 'aws':
      return createAwsBackend(config, env);
    case 'ass':
      return createAssBackend(config, env);
  }
}
