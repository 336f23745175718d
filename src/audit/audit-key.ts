/**
 * The audit key: 32 random bytes in a 0600 file (`<data_dir>/audit.key` by default) that keys
 * the audit chain (record-hash.ts). It lives beside the config and data, not in the secret
 * store's directory, and no agent ever sees it: whoever deletes a record must also hold this
 * file to recompute the chain.
 *
 * File content (JSON): `{ format: "ass-audit-key-v1", key: <base64>, keyed_from_seq: n }`.
 * `keyed_from_seq` is the first sequence number written with the key: a record at or after it
 * that is unkeyed is a chain recomputed without the key (a downgrade), and `audit verify` says so.
 */
import { closeSync, constants, fchmodSync, fsyncSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AssError } from '../shared/errors.js';
import { isErrno } from '../shared/durable-file.js';

export const AUDIT_KEY_FORMAT = 'ass-audit-key-v1';

const AuditKeyFileSchema = z.object({
  format: z.literal(AUDIT_KEY_FORMAT),
  key: z.string().regex(/^[A-Za-z0-9+/]{43}=$/),
  keyed_from_seq: z.number().int().min(1),
});

export interface AuditKey {
  key: Buffer;
  keyedFromSeq: number;
  path: string;
}

/** Reads the audit key, or null when the file does not exist. A damaged file throws AUDIT_UNAVAILABLE. */
export function readAuditKey(path: string): AuditKey | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw new AssError('AUDIT_UNAVAILABLE', `The audit key ${path} could not be read (${(error as NodeJS.ErrnoException).code ?? 'error'}).`, {}, { cause: error });
  }
  let parsed: z.infer<typeof AuditKeyFileSchema>;
  try {
    parsed = AuditKeyFileSchema.parse(JSON.parse(text));
  } catch {
    throw new AssError('AUDIT_UNAVAILABLE', `The audit key ${path} is not a valid audit key file (format ${AUDIT_KEY_FORMAT}); restore it from a backup.`);
  }
  return { key: Buffer.from(parsed.key, 'base64'), keyedFromSeq: parsed.keyed_from_seq, path };
}

/**
 * Creates the audit key exclusively (never over an existing one); the caller holds the audit
 * lock, and `keyedFromSeq` is the sequence number of the next record.
 */
export function createAuditKey(path: string, keyedFromSeq: number): AuditKey {
  const key = randomBytes(32);
  const text = `${JSON.stringify({ format: AUDIT_KEY_FORMAT, key: key.toString('base64'), keyed_from_seq: keyedFromSeq })}\n`;
  const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  try {
    // Security: the umask can only strip bits; set the mode exactly.
    fchmodSync(fd, 0o600);
    const buffer = Buffer.from(text, 'utf8');
    if (writeSync(fd, buffer) !== buffer.length) throw new Error('short write (disk full?)');
    fsyncSync(fd);
  } catch (error) {
    // A half-written key would stop every later append; leave nothing instead.
    rmSync(path, { force: true });
    throw error;
  } finally {
    closeSync(fd);
  }
  return { key, keyedFromSeq, path };
}
