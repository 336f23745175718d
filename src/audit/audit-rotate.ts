/** `audit rotate`: a new audit file that continues the chain (see `rotateAuditLog`). */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, linkSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { AssError } from '../shared/errors.js';
import { withSyncFileLock } from '../shared/durable-file.js';
import { clearWanted, signalWanted } from '../shared/file-lease.js';
import { keyFor, nextRecord, parseHead, readLastLine, type AuditLogOptions, type AuditRecord } from './audit-log.js';

export interface Rotation {
  /** Where the old records are now (same directory, `<name>.<UTC time>`). */
  rotatedTo: string;
  /** The old file's last record, which the new file's first record chains to. */
  lastSeq: number;
  lastHash: string;
  /** The new file's first record (action `audit.rotate`). */
  first: AuditRecord;
}

/**
 * Starts a new audit file without breaking the chain: under the audit lock, writes the new
 * file's first record (an `audit.rotate` record that names the old file in `continues` and
 * chains to its last hash with the next sequence number) to a temporary file and fsyncs it,
 * gives the old log its second name `<name>.<UTC time>` (a hard link), then renames the new
 * file over the log name. The log name always holds a complete chain: a crash at any step
 * leaves either the old log or the new one there, never an empty name that would restart the
 * chain. Running servers notice the new inode on their next append and continue from that
 * record. Throws when the log is empty or absent.
 */
export async function rotateAuditLog(path: string, actor: string, now: Date = new Date(), options: Pick<AuditLogOptions, 'keyPath'> = {}): Promise<Rotation> {
  // A server holding the audit lease lets go when asked (file-lease.ts).
  return withSyncFileLock(path, () => {
    const line = readLastLine(path);
    if (!line) throw new AssError('INVALID_ARGUMENT', `The audit log ${path} is empty or absent; there is nothing to rotate.`);
    const last = parseHead(line, path);
    const rotatedTo = `${path}.${now.toISOString().replace(/:/g, '-')}`;
    if (existsSync(rotatedTo)) throw new AssError('CONFLICT', `${rotatedTo} exists already; rotate again in a moment.`);
    // Security: an unkeyed record after keyed ones would read as a recomputed (tampered) chain.
    if (!options.keyPath && last.v === 2) throw new AssError('CONFIG_INVALID', `The audit log ${path} is keyed; rotating it needs its audit key (audit.key). Use \`agent-secret-store audit rotate\`.`);
    const key = options.keyPath ? keyFor(options.keyPath, last, path) : null;
    const first = nextRecord(last, now, { actor, action: 'audit.rotate', outcome: 'ok', continues: basename(rotatedTo) }, key);
    const next = `${path}.rotating-${randomBytes(6).toString('hex')}`;
    try {
      const fd = openSync(next, 'wx', 0o600);
      try {
        const line = Buffer.from(`${JSON.stringify(first)}\n`, 'utf8');
        if (writeSync(fd, line) !== line.length) throw new Error('short write (disk full?)');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      linkSync(path, rotatedTo);
      renameSync(next, path);
    } catch (error) {
      rmSync(next, { force: true });
      throw error;
    }
    fsyncDirSync(dirname(path));
    return { rotatedTo, lastSeq: last.seq, lastHash: last.hash, first };
  }, { onWait: () => signalWanted(path), onAcquired: () => clearWanted(path) });
}

function fsyncDirSync(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is as durable as they allow.
  } finally {
    closeSync(fd);
  }
}
