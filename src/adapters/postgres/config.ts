/** Config block of the PostgreSQL secret backend (`backend: { type: postgres, … }` in the YAML). */
import { z } from 'zod';
import { PgConnectionShape } from '../../shared/pg/config.js';

/**
 * The connection (`url`, `ssl`, timeouts, `pool_max`, `migrate_on_start`, shared with
 * `state: postgres`) and the encryption key, exactly as the file backend takes it: one of
 * `key_file` (32 raw bytes, mode 0600) or `passphrase_env` (scrypt; its salt and parameters kept
 * in the database). The key itself never enters the database. Paths are absolute by the time they
 * get here: the config layer resolves them.
 */
export const PostgresBackendConfigSchema = z
  .object({
    type: z.literal('postgres'),
    ...PgConnectionShape,
    key_file: z.string().optional(),
    passphrase_env: z.string().optional(),
    max_versions: z.number().int().min(1).max(1000).default(20),
  })
  .strict()
  .refine((config) => (config.key_file === undefined) !== (config.passphrase_env === undefined), {
    message: 'Set exactly one of key_file or passphrase_env.',
    path: ['key_file'],
  });

export type PostgresBackendConfig = z.input<typeof PostgresBackendConfigSchema>;
