/**
 * Where the file backend's 32-byte key comes from: a key file, or a passphrase stretched with
 * scrypt (parameters and a key check in `<dir>/kdf.json`). Both sources leave a key check in the
 * store so a wrong key is reported as such instead of as a tampered secret.
 */
import { randomBytes, scrypt, type ScryptOptions } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { AssError, wrongKeyError } from '../../shared/errors.js';
import { isErrno, withFileLock, writeFileAtomic } from '../../shared/durable-file.js';
import { KEY_BYTES, makeKeyCheck, verifyKeyCheck } from './crypto.js';

/** A loaded key and a human description of where it came from (named in error messages). */
export interface KeySource {
  key: Buffer;
  description: string;
}

/**
 * Writes a new random 32-byte key (raw bytes) to `file` with mode 0600. Refuses to overwrite an
 * existing file (exclusive create), so an existing store's key is never replaced by accident.
 */
export async function createKeyFile(file: string): Promise<void> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o600);
  } catch (error) {
    if (isErrno(error, 'EEXIST')) {
      throw new AssError('CONFIG_INVALID', `The key file ${file} already exists; refusing to overwrite it (that would make the store unreadable).`);
    }
    throw error;
  }
  try {
    await handle.chmod(0o600);
    await handle.writeFile(randomBytes(KEY_BYTES));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Reads a key file: exactly 32 raw bytes, not readable by group or others (POSIX only).
 * Any problem throws `CONFIG_INVALID` saying how to fix it.
 */
export async function loadKeyFile(file: string): Promise<Buffer> {
  let stat;
  try {
    stat = await fs.stat(file);
  } catch (error) {
    if (isErrno(error, 'ENOENT')) {
      throw new AssError('CONFIG_INVALID', `The key file ${file} does not exist. Point key_file at the store's key file, or run agent-secret-store init to create a new store.`);
    }
    throw new AssError('CONFIG_INVALID', `The key file ${file} cannot be read; check its permissions.`, {}, { cause: error });
  }
  // Security: a key readable by other users is a leaked key; refuse rather than warn.
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new AssError('CONFIG_INVALID', `The key file ${file} is readable by group or others (mode ${mode}). Run: chmod 600 ${file}`);
  }
  const key = await fs.readFile(file);
  if (key.length !== KEY_BYTES) {
    key.fill(0);
    throw new AssError('CONFIG_INVALID', `The key file ${file} must hold exactly ${KEY_BYTES} bytes; it holds ${stat.size}.`);
  }
  return key;
}

const KEY_CHECK_FILE = 'key-check.json';
const KeyCheckSchema = z.object({ format: z.literal('ass-key-check-v1'), check: z.string() });

/**
 * Key-file mode: compares the key with `<dir>/key-check.json`, creating the check on first use.
 * A mismatch throws `INTEGRITY_ERROR` naming the key file.
 */
export async function loadKeyFileSource(dir: string, file: string): Promise<KeySource> {
  const key = await loadKeyFile(file);
  const description = `the key file ${file}`;
  const checkPath = path.join(dir, KEY_CHECK_FILE);
  const check = await withFileLock(checkPath, async () => {
    const existing = await readJson(checkPath);
    if (existing !== undefined) {
      const parsed = KeyCheckSchema.safeParse(existing);
      if (!parsed.success) throw new AssError('INTEGRITY_ERROR', `The store's ${KEY_CHECK_FILE} is malformed (tampered or truncated). Restore it from a backup.`);
      return parsed.data.check;
    }
    const made = makeKeyCheck(key);
    await writeFileAtomic(checkPath, JSON.stringify({ format: 'ass-key-check-v1', check: made }) + '\n');
    return made;
  });
  if (!verifyKeyCheck(key, check)) {
    throw wrongKeyError(`The key in ${description} is not the key this store was written with (its ${KEY_CHECK_FILE} does not match). Use the store's original key file.`);
  }
  return { key, description };
}

/** scrypt parameters; defaults N=2^15, r=8, p=1 (≈32 MiB, ≈0.1 s). */
export interface KdfParams {
  N: number;
  r: number;
  p: number;
}
export const DEFAULT_KDF_PARAMS: KdfParams = { N: 2 ** 15, r: 8, p: 1 };

const KDF_FILE = 'kdf.json';
/** Upper bound on scrypt work we accept from a stored kdf.json (8× the default). */
const MAX_SCRYPT_BYTES = 256 * 1024 * 1024;

const KdfFileSchema = z.object({
  salt: z.string(),
  N: z.number().int(),
  r: z.number().int(),
  p: z.number().int(),
  check: z.string(),
});

/**
 * Security: kdf.json is not authenticated before use, so its parameters are bounded before any
 * scrypt runs; a tampered N=2^40 must be refused at once instead of burning memory and CPU.
 */
export function checkKdfBounds(params: KdfParams, saltBytes: number): string | undefined {
  const { N, r, p } = params;
  if (!(N >= 2 && N <= 2 ** 20 && (N & (N - 1)) === 0)) return `N=${N} is not a power of two in 2..2^20`;
  if (!(r >= 1 && r <= 16)) return `r=${r} is outside 1..16`;
  if (!(p >= 1 && p <= 4)) return `p=${p} is outside 1..4`;
  if (!(saltBytes >= 16 && saltBytes <= 64)) return `the salt is ${saltBytes} bytes, not 16..64`;
  if (128 * N * r * p > MAX_SCRYPT_BYTES) return `N*r*p=${N * r * p} asks for more than ${MAX_SCRYPT_BYTES / 2 ** 20} MiB of scrypt work`;
  return undefined;
}

/**
 * Passphrase mode: derives the key with scrypt using `<dir>/kdf.json`, creating that file (fresh
 * 16-byte salt, `params`) when the store is new. A wrong passphrase throws `INTEGRITY_ERROR`
 * starting "Wrong passphrase"; out-of-bounds or malformed parameters throw `INTEGRITY_ERROR`.
 */
export async function loadPassphraseSource(dir: string, passphrase: string, envName: string, params: KdfParams = DEFAULT_KDF_PARAMS): Promise<KeySource> {
  const description = `the passphrase in $${envName}`;
  const kdfPath = path.join(dir, KDF_FILE);
  const { key, check } = await withFileLock(kdfPath, async () => {
    const existing = await readJson(kdfPath);
    if (existing !== undefined) return deriveFromStored(existing, passphrase);
    if (await hasSecrets(dir)) {
      throw new AssError('INTEGRITY_ERROR', `The store holds secrets but its ${KDF_FILE} is missing, so no passphrase can unlock it. Restore ${KDF_FILE} from a backup.`);
    }
    const salt = randomBytes(16);
    const derived = await deriveKey(passphrase, salt, params);
    const made = makeKeyCheck(derived);
    await writeFileAtomic(kdfPath, JSON.stringify({ salt: salt.toString('base64'), ...params, check: made }, null, 2) + '\n');
    return { key: derived, check: made };
  });
  if (!verifyKeyCheck(key, check)) {
    key.fill(0);
    throw wrongKeyError(`Wrong passphrase: ${description} does not unlock this store (its ${KDF_FILE} check does not match). Set the passphrase the store was created with.`);
  }
  return { key, description };
}

async function deriveFromStored(raw: unknown, passphrase: string): Promise<{ key: Buffer; check: string }> {
  const parsed = KdfFileSchema.safeParse(raw);
  if (!parsed.success) throw new AssError('INTEGRITY_ERROR', `The store's ${KDF_FILE} is malformed (tampered or truncated). Restore it from a backup.`);
  const { salt: saltText, N, r, p, check } = parsed.data;
  const salt = Buffer.from(saltText, 'base64');
  const problem = checkKdfBounds({ N, r, p }, salt.length);
  if (problem) throw new AssError('INTEGRITY_ERROR', `The store's ${KDF_FILE} holds parameters outside the allowed bounds (${problem}); it may have been tampered with. Restore it from a backup.`);
  return { key: await deriveKey(passphrase, salt, { N, r, p }), check };
}

export function deriveKey(passphrase: string, salt: Buffer, { N, r, p }: KdfParams): Promise<Buffer> {
  const options: ScryptOptions = { N, r, p, maxmem: 128 * N * r * p + 128 * r * (N + p) + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(passphrase.normalize('NFC'), salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return undefined;
    throw new AssError('BACKEND_UNAVAILABLE', `Could not read the store's ${path.basename(file)}; check the store directory's permissions.`, {}, { cause: error });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null; // present but unparseable: the schema check reports it as malformed.
  }
}

async function hasSecrets(dir: string): Promise<boolean> {
  try {
    return (await fs.readdir(path.join(dir, 'secrets'))).some((name) => /^[0-9a-f]{64}$/.test(name));
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return false;
    throw error;
  }
}
