/** Config block of the embedded file backend (`backend: { type: file, … }` in the YAML). */
import { z } from 'zod';

/**
 * `path` is the store directory; exactly one of `key_file` (a 32-byte key file) or
 * `passphrase_env` (the name of an environment variable holding a passphrase) is set. Paths are
 * absolute by the time they get here: the config layer resolves them.
 */
/** Where the encryption key comes from, and how many versions are kept: shared by every encrypting backend (file, postgres). */
export const EncryptedStoreShape = {
  key_file: z.string().optional(),
  passphrase_env: z.string().optional(),
  max_versions: z.number().int().min(1).max(1000).default(20),
};

/** Exactly one key source: a key file or a passphrase in the environment. */
export const exactlyOneKeySource: [(config: { key_file?: string | undefined; passphrase_env?: string | undefined }) => boolean, { message: string; path: string[] }] = [
  (config) => (config.key_file === undefined) !== (config.passphrase_env === undefined),
  { message: 'Set exactly one of key_file or passphrase_env.', path: ['key_file'] },
];

export const FileBackendConfigSchema = z
  .object({
    type: z.literal('file'),
    path: z.string(),
    ...EncryptedStoreShape,
  })
  .strict()
  .refine(...exactlyOneKeySource);

/** Input shape: `max_versions` may be left out (default 20). A parsed config also fits. */
export type FileBackendConfig = z.input<typeof FileBackendConfigSchema>;
