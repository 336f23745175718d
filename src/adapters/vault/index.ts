import type { SecretBackend } from '../backend.js';
import { AssError } from '../../shared/errors.js';
import { systemClock, type Clock } from '../../shared/types.js';
import { VaultBackend } from './backend.js';
import { createNodeVaultClient, VaultSession, type VaultClient } from './client.js';
import { VaultBackendConfigSchema, type VaultBackendConfig, type VaultBackendConfigInput } from './config.js';
import { asRecord, type KvEngine } from './engine.js';
import { isNotFound, isPermissionDenied, toAssError } from './errors.js';
import { KvV1Engine } from './kv-v1.js';
import { KvV2Engine } from './kv-v2.js';
import { encodePath, VaultPaths } from './paths.js';

export { VaultBackendConfigSchema, VaultAuthSchema } from './config.js';
export type { VaultBackendConfig, VaultBackendConfigInput, VaultAuthConfig } from './config.js';
export type { VaultClient } from './client.js';

export interface VaultBackendDeps {
  /** Another client of the same shape (tests); default: node-vault. */
  client?: VaultClient;
  clock?: Clock;
}

/**
 * Builds the Vault backend: validates the config block (CONFIG_INVALID with the path of each
 * problem), logs in, and with `kv_version: auto` asks Vault which KV version the mount runs.
 * Credentials are read from `env` by the names the config gives; nothing secret is in the config.
 * With AppRole or `kv_version: auto`, an unreachable Vault fails this with BACKEND_UNAVAILABLE
 * (a CLI command stops; the stdio server opens the backend after `initialize`, says it on stderr
 * and answers it to the calls, see adapters/deferred-backend.ts); otherwise the first call reports it.
 */
export async function createVaultBackend(
  config: VaultBackendConfigInput | VaultBackendConfig,
  env: NodeJS.ProcessEnv = process.env,
  deps: VaultBackendDeps = {},
): Promise<SecretBackend> {
  const parsed = VaultBackendConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `backend.${i.path.join('.')}: ${i.message}`).join('; ');
    throw new AssError('CONFIG_INVALID', `Invalid Vault backend config: ${problems}`);
  }
  const cfg = parsed.data;
  const client = deps.client ?? createNodeVaultClient(cfg);
  const session = new VaultSession(client, cfg.auth, env);
  try {
    await session.ready();
    const version = cfg.kv_version === 'auto' ? await detectKvVersion(client, cfg.mount) : cfg.kv_version;
    const paths = new VaultPaths(cfg.mount, cfg.prefix, version);
    const engine: KvEngine =
      version === 2 ? new KvV2Engine(client, paths, cfg.value_field) : new KvV1Engine(client, paths, cfg.value_field, deps.clock ?? systemClock);
    return new VaultBackend(client, session, engine, cfg.cas_retries);
  } catch (error) {
    session.close();
    throw toAssError(error, 'start-up');
  }
}

/**
 * The Vault CLI's own preflight: `sys/internal/ui/mounts/<mount>` answers any token with a
 * capability on the mount; `sys/mounts/<mount>` needs more. Without either, assume KV v2 (the
 * default since Vault 1.1) — set `kv_version` explicitly for a v1 mount with a narrow policy.
 */
async function detectKvVersion(client: VaultClient, mount: string): Promise<1 | 2> {
  for (const path of [`sys/internal/ui/mounts/${encodePath(mount)}`, `sys/mounts/${encodePath(mount)}`]) {
    try {
      const body = asRecord(await client.read(path));
      const data = asRecord(body?.data) ?? body;
      const options = asRecord(data?.options) ?? asRecord(body?.options);
      const type = data?.type;
      if (type !== undefined && type !== 'kv' && type !== 'generic') {
        throw new AssError('CONFIG_INVALID', `The Vault mount '${mount}' is not a KV secrets engine.`);
      }
      return options?.version === '2' || options?.version === 2 ? 2 : type === undefined ? 2 : 1;
    } catch (error) {
      if (!(isPermissionDenied(error) || isNotFound(error))) throw error;
      if (isNotFound(error) && path.startsWith('sys/mounts')) {
        throw new AssError('CONFIG_INVALID', `The Vault mount '${mount}' does not exist.`);
      }
    }
  }
  return 2;
}
