/** Config block of the PostgreSQL secret backend (`backend: { type: postgres, … }` in the YAML). */
import { z } from 'zod';
import { PgConnectionShape } from '../../shared/pg/config.js';
import { EncryptedStoreShape, exactlyOneKeySource } from '../file/config.js';

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
    ...EncryptedStoreShape,
  })
  .strict()
  .refine(...exactlyOneKeySource);

export type PostgresBackendConfig = z.input<typeof PostgresBackendConfigSchema>;
