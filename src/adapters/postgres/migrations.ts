/**
 * Schema of the PostgreSQL secret backend (component 'secrets'). Released versions are never
 * edited; a change is a new version appended here.
 *
 * - `ass_secrets`: one row per live secret (its id, created_at, newest version); the row lock
 *   on it serializes writers of one secret across every replica.
 * - `ass_secret_versions`: the kept versions; the value sealed (AES-256-GCM) with the row's
 *   namespace, key, id, version, type, tier, metadata and time as associated data, so a row
 *   edited in the database (a tier lowered, a value moved to another key) fails to open.
 *   Type, tier and metadata are also in clear columns, so listing never decrypts.
 * - `ass_secrets_keys`: the key check (and, in passphrase mode, the scrypt salt and parameters);
 *   never the key.
 */
import type { ComponentMigrations } from '../../shared/pg/migrations.js';

export const SECRETS_MIGRATIONS: ComponentMigrations = {
  component: 'secrets',
  migrations: [
    {
      version: 1,
      name: 'create secrets, versions and key check tables',
      sql: `
        CREATE TABLE ass_secrets (
          namespace text NOT NULL,
          key text NOT NULL,
          id text NOT NULL,
          created_at text NOT NULL,
          newest_version integer NOT NULL CHECK (newest_version >= 0),
          PRIMARY KEY (namespace, key)
        );
        CREATE TABLE ass_secret_versions (
          namespace text NOT NULL,
          key text NOT NULL,
          version integer NOT NULL CHECK (version >= 1),
          secret_type text NOT NULL,
          access_tier text NOT NULL,
          metadata text NOT NULL,
          updated_at text NOT NULL,
          iv bytea NOT NULL,
          tag bytea NOT NULL,
          ciphertext bytea NOT NULL,
          PRIMARY KEY (namespace, key, version),
          FOREIGN KEY (namespace, key) REFERENCES ass_secrets (namespace, key) ON DELETE CASCADE
        );
        CREATE TABLE ass_secrets_keys (
          singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
          kind text NOT NULL CHECK (kind IN ('key_file', 'passphrase')),
          key_check text NOT NULL,
          kdf_salt text,
          kdf_n integer,
          kdf_r integer,
          kdf_p integer
        );
      `,
    },
  ],
};
