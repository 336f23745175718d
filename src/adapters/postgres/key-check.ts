/**
 * The PostgreSQL backend's key, from the same sources as the file backend's (a 32-byte key file,
 * or a passphrase stretched with scrypt), with the key check, and in passphrase mode the salt and
 * scrypt parameters, kept in `ass_secrets_keys` instead of files. The first replica to open an
 * empty store writes the row (INSERT … ON CONFLICT DO NOTHING, so two at once agree on one);
 * every later open verifies against it, so a wrong key is reported as such, never as tampering.
 */
import { randomBytes } from 'node:crypto';
import { AssError, wrongKeyError } from '../../shared/errors.js';
import type { PgDatabase } from '../../shared/pg/pool.js';
import { makeKeyCheck, verifyKeyCheck } from '../file/crypto.js';
import { checkKdfBounds, DEFAULT_KDF_PARAMS, deriveKey, type KdfParams, type KeySource } from '../file/key-source.js';

interface KeyRow {
  kind: 'key_file' | 'passphrase';
  key_check: string;
  kdf_salt: string | null;
  kdf_n: number | null;
  kdf_r: number | null;
  kdf_p: number | null;
}

async function readRow(db: PgDatabase): Promise<KeyRow | undefined> {
  return (await db.query<KeyRow>('SELECT kind, key_check, kdf_salt, kdf_n, kdf_r, kdf_p FROM ass_secrets_keys')).rows[0];
}

async function storeHasSecrets(db: PgDatabase): Promise<boolean> {
  return (await db.query('SELECT 1 FROM ass_secrets LIMIT 1')).rowCount! > 0;
}

/** Key-file mode: the loaded key, checked against (or recorded as) the store's key check. */
export async function verifyKeyFileKey(db: PgDatabase, key: Buffer, description: string): Promise<KeySource> {
  let row = await readRow(db);
  if (!row) {
    if (await storeHasSecrets(db)) throw new AssError('INTEGRITY_ERROR', 'The PostgreSQL store holds secrets but no key check (ass_secrets_keys is empty). Restore the database from a backup.');
    await db.query(`INSERT INTO ass_secrets_keys (kind, key_check) VALUES ('key_file', $1) ON CONFLICT DO NOTHING`, [makeKeyCheck(key)]);
    row = await readRow(db);
  }
  if (!row) throw new AssError('INTEGRITY_ERROR', 'The PostgreSQL store lost its key check while opening; try again.');
  if (row.kind !== 'key_file') {
    throw new AssError('CONFIG_INVALID', 'This PostgreSQL store was created with a passphrase (passphrase_env), not a key file. Configure passphrase_env with its passphrase.');
  }
  if (!verifyKeyCheck(key, row.key_check)) {
    throw wrongKeyError(`The key in ${description} is not the key this PostgreSQL store was written with (its key check does not match). Use the store's original key file.`);
  }
  return { key, description };
}

/** Passphrase mode: scrypt with the salt and parameters the store keeps (created on first open). */
export async function derivePassphraseKey(db: PgDatabase, passphrase: string, envName: string, params: KdfParams = DEFAULT_KDF_PARAMS): Promise<KeySource> {
  const description = `the passphrase in $${envName}`;
  let row = await readRow(db);
  if (!row) {
    if (await storeHasSecrets(db)) throw new AssError('INTEGRITY_ERROR', 'The PostgreSQL store holds secrets but no key check (ass_secrets_keys is empty). Restore the database from a backup.');
    const salt = randomBytes(16);
    const key = await deriveKey(passphrase, salt, params);
    await db.query(`INSERT INTO ass_secrets_keys (kind, key_check, kdf_salt, kdf_n, kdf_r, kdf_p) VALUES ('passphrase', $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, [
      makeKeyCheck(key),
      salt.toString('base64'),
      params.N,
      params.r,
      params.p,
    ]);
    key.fill(0);
    row = await readRow(db);
  }
  if (!row) throw new AssError('INTEGRITY_ERROR', 'The PostgreSQL store lost its key check while opening; try again.');
  if (row.kind !== 'passphrase' || row.kdf_salt === null || row.kdf_n === null || row.kdf_r === null || row.kdf_p === null) {
    throw new AssError('CONFIG_INVALID', 'This PostgreSQL store was created with a key file (key_file), not a passphrase. Configure key_file with its key file.');
  }
  const salt = Buffer.from(row.kdf_salt, 'base64');
  const stored = { N: row.kdf_n, r: row.kdf_r, p: row.kdf_p };
  // Security: the parameters come from the database; bound them before any scrypt runs.
  const problem = checkKdfBounds(stored, salt.length);
  if (problem) throw new AssError('INTEGRITY_ERROR', `The PostgreSQL store's scrypt parameters are outside the allowed bounds (${problem}); they may have been tampered with.`);
  const key = await deriveKey(passphrase, salt, stored);
  if (!verifyKeyCheck(key, row.key_check)) {
    key.fill(0);
    throw wrongKeyError(`Wrong passphrase: ${description} does not unlock this PostgreSQL store (its key check does not match). Set the passphrase the store was created with.`);
  }
  return { key, description };
}
