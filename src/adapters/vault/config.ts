import { z } from 'zod';
import { ReadCacheConfigSchema } from '../cache/config.js';

/**
 * The `backend:` block for HashiCorp Vault (or any Vault-API server, e.g. OpenBao).
 * Validated apart from connecting: `createVaultBackend` only ever sees a parsed config.
 *
 * Security: credentials are never written in YAML. `token_env` and `secret_id_env` name
 * environment variables; the values are read from the environment at start-up. A role_id is an
 * identifier, not a credential, so it may be given literally or through `role_id_env`.
 */

const EnvNameSchema = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be the NAME of an environment variable (letters, digits, _), not a secret value');

/** One path segment list without leading/trailing slashes, e.g. `secret` or `kv/team-a`. */
const VaultPathSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/, 'must be a Vault path without leading or trailing slashes')
  .refine((p) => p.split('/').every((s) => s !== '.' && s !== '..'), 'must not contain . or .. segments');

export const VaultTokenAuthSchema = z
  .object({
    method: z.literal('token'),
    /** Environment variable holding the proxy's Vault token. */
    token_env: EnvNameSchema.default('VAULT_TOKEN'),
  })
  .strict();

export const VaultAppRoleAuthSchema = z
  .object({
    method: z.literal('approle'),
    /** Where the AppRole auth method is mounted. */
    mount: VaultPathSchema.default('approle'),
    role_id: z.string().min(1).max(256).optional(),
    role_id_env: EnvNameSchema.optional(),
    secret_id_env: EnvNameSchema.default('VAULT_SECRET_ID'),
  })
  .strict()
  .refine((a) => (a.role_id === undefined) !== (a.role_id_env === undefined), {
    message: 'give exactly one of role_id or role_id_env',
    path: ['role_id'],
  });

export const VaultAuthSchema = z.discriminatedUnion('method', [VaultTokenAuthSchema, VaultAppRoleAuthSchema]);

export const VaultBackendConfigSchema = z
  .object({
    type: z.literal('vault'),
    /** e.g. `https://vault.internal:8200`. Never shown to agents. */
    address: z.url({ protocol: /^https?$/ }),
    /** KV secrets engine mount. */
    mount: VaultPathSchema.default('secret'),
    /** Folder under the mount that holds every namespace. */
    prefix: VaultPathSchema.default('agent-secret-store'),
    /** `auto` asks `sys/mounts/<mount>` once at start-up (needs `read` there; falls back to 2). */
    kv_version: z.union([z.literal('auto'), z.literal(1), z.literal(2)]).default('auto'),
    /** The data field the value is stored under. */
    value_field: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('value'),
    auth: VaultAuthSchema.default({ method: 'token', token_env: 'VAULT_TOKEN' }),
    /** Vault Enterprise namespace, sent as `X-Vault-Namespace`. */
    namespace: VaultPathSchema.optional(),
    /** Per-request timeout. */
    request_timeout_ms: z.number().int().min(100).max(120_000).default(5_000),
    /** How many times a write without `expectedVersion` re-reads and retries on a cas conflict. */
    cas_retries: z.number().int().min(0).max(10).default(3),
    /** A read cache (issue 14), off when absent: see docs/read-cache.md. */
    cache: ReadCacheConfigSchema.optional(),
  })
  .strict();

export type VaultBackendConfig = z.infer<typeof VaultBackendConfigSchema>;
export type VaultBackendConfigInput = z.input<typeof VaultBackendConfigSchema>;
export type VaultAuthConfig = z.infer<typeof VaultAuthSchema>;
