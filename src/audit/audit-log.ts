import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { basename, dirname } from 'node:path';
import { AssError } from '../shared/errors.js';
import { ensurePrivateDir, withSyncFileLock } from '../shared/durable-file.js';

/**
 * What happened, in fields that can never hold a value or a token: the event type is closed,
 * and `appendAudit` copies only these fields (never spreads a caller's object).
 */
export interface AuditEvent {
  /** `agent:<id>`, `admin:<id>`, or `system`. */
  actor: string;
  /** Tool name, or a human operation such as `approve`, `secrets.delete`. */
  action: string;
  namespace?: string;
  key?: string;
  /** allowed | denied | approval_requested | approval_granted | approval_denied | approval_expired | token_issued | human_auth_required | error | ok */
  outcome: string;
  /** The policy rule that decided, e.g. `tier:critical`. */
  rule?: string;
  /** Short reason in words; never a value. */
  reason?: string;
  approval_id?: string;
  token_id?: string;
  error_code?: string;
  latency_ms?: number;
  /** Only on the first record after `audit rotate`: the file name the chain continues from. */
  continues?: string;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  ts: string;
  prev: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);
const fsyncAsync = promisify(fsync);
// `continues` is last and only present on rotation records, so older records hash as before.
const FIELDS: (keyof AuditEvent)[] = ['actor', 'action', 'namespace', 'key', 'outcome', 'rule', 'reason', 'approval_id', 'token_id', 'error_code', 'latency_ms', 'continues'];

function pick(event: AuditEvent): AuditEvent {
  const out: Record<string, unknown> = {};
  for (const field of FIELDS) if (event[field] !== undefined) out[field] = event[field];
  return out as unknown as AuditEvent;
}

/** The hash covers every field but `hash` itself, in a fixed order, chained to `prev`. */
export function hashRecord(record: Omit<AuditRecord, 'hash'>): string {
  const ordered: Record<string, unknown> = { seq: record.seq, ts: record.ts, prev: record.prev };
  for (const field of FIELDS) if (record[field] !== undefined) ordered[field] = record[field];
  return createHash('sha256').update(JSON.stringify(ordered)).digest('hex');
}

/** Reads the last complete line of the file (the chain head), or null when empty or absent. */
export function readLastLine(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return null;
    let window = 4096;
    for (;;) {
      const start = Math.max(0, size - window);
      const buffer = Buffer.alloc(size - start);
      readSync(fd, buffer, 0, buffer.length, start);
      const text = buffer.toString('utf8').replace(/\n+$/, '');
      const cut = text.lastIndexOf('\n');
      if (cut >= 0 || start === 0) return text.slice(cut + 1);
      window *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

export interface AuditLog {
  append(event: AuditEvent, now?: Date): Promise<AuditRecord>;
  close(): Promise<void>;
  readonly path: string;
}

/**
 * An append-only, hash-chained JSON-lines log shared by every process (servers and CLI):
 * each append takes the cross-process lock, reads the chain head, and appends one line
 * (fsync'd when `options.fsync`). A failed append throws AUDIT_UNAVAILABLE so the caller
 * fails closed.
 */
export function createAuditLog(path: string, clock: () => Date = () => new Date(), options: { fsync?: boolean } = {}): AuditLog {
  // In-process cache of the head, trusted only while the file is exactly as we left it.
  let cached: { size: number; ino: number; seq: number; hash: string } | null = null;
  // The append descriptor stays open between records; reopened if the file was replaced.
  let fd: number | null = null;
  let fdIno = -1;
  // The folder is made (0700) once per process, not on every record.
  let dirReady: Promise<void> | null = null;

  function head(info: { size: number; ino: number } | undefined): { seq: number; hash: string } {
    if (!info || info.size === 0) return { seq: 0, hash: GENESIS };
    if (cached && cached.size === info.size && cached.ino === info.ino) return cached;
    const line = readLastLine(path);
    if (!line) return { seq: 0, hash: GENESIS };
    const last = JSON.parse(line) as AuditRecord;
    return { seq: last.seq, hash: last.hash };
  }

  function appendFd(ino: number | undefined): number {
    if (fd !== null && ino !== undefined && ino === fdIno) return fd;
    closeFd();
    fd = openSync(path, 'a', 0o600);
    fdIno = fstatSync(fd).ino;
    return fd;
  }

  function closeFd(): void {
    if (fd !== null) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
    fd = null;
  }

  async function append(event: AuditEvent, now: Date = clock()): Promise<AuditRecord> {
    try {
      await (dirReady ??= ensurePrivateDir(dirname(path)));
      const record = await withSyncFileLock(path, () => {
        // Synchronous stat, read and write under the lock: small local operations on every
        // request, where a thread-pool hop costs far more than the call (see readSmallFileSync).
        const info = statSync(path, { throwIfNoEntry: false });
        const { seq, hash: prev } = head(info);
        const body = { seq: seq + 1, ts: now.toISOString(), prev, ...pick(event) };
        const record: AuditRecord = { ...body, hash: hashRecord(body) };
        const out = appendFd(info?.ino);
        const line = Buffer.from(`${JSON.stringify(record)}\n`, 'utf8');
        writeSync(out, line);
        cached = { size: (info?.size ?? 0) + line.length, ino: fdIno, seq: record.seq, hash: record.hash };
        return record;
      });
      // The write has reached the kernel either way (a failed write fails the request). fsync
      // per record costs milliseconds; like Vault's file audit device we leave it to the
      // operator (`audit.fsync: true`), and do it outside the lock so appenders do not queue on it.
      if (options.fsync && fd !== null) await fsyncAsync(fd);
      return record;
    } catch (error) {
      cached = null;
      dirReady = null;
      closeFd();
      // Security: fail closed. The caller must not act (or return a value) without its record.
      throw new AssError('AUDIT_UNAVAILABLE', 'The audit log could not be written, so the request was refused. An operator should check the audit log path and disk.', {}, { cause: error });
    }
  }

  return { append, close: async () => closeFd(), path };
}

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
 * Starts a new audit file without breaking the chain: under the audit lock, renames the log to
 * `<name>.<UTC time>` and writes the new file's first record, an `audit.rotate` record that
 * names the old file (`continues`) and chains to its last hash with the next sequence number.
 * Running servers notice the new file on their next append (its inode changed) and continue
 * the chain from that record. Throws when the log is empty or absent.
 */
export async function rotateAuditLog(path: string, actor: string, now: Date = new Date()): Promise<Rotation> {
  return withSyncFileLock(path, () => {
    const line = readLastLine(path);
    if (!line) throw new AssError('INVALID_ARGUMENT', `The audit log ${path} is empty or absent; there is nothing to rotate.`);
    const last = JSON.parse(line) as AuditRecord;
    const rotatedTo = `${path}.${now.toISOString().replace(/:/g, '-')}`;
    if (existsSync(rotatedTo)) throw new AssError('CONFLICT', `${rotatedTo} exists already; rotate again in a moment.`);
    const body = { seq: last.seq + 1, ts: now.toISOString(), prev: last.hash, ...pick({ actor, action: 'audit.rotate', outcome: 'ok', continues: basename(rotatedTo) }) };
    const first: AuditRecord = { ...body, hash: hashRecord(body) };
    renameSync(path, rotatedTo);
    try {
      const fd = openSync(path, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(first)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      // Without its first record the next append would start a new chain: put the old file back.
      rmSync(path, { force: true });
      renameSync(rotatedTo, path);
      throw error;
    }
    return { rotatedTo, lastSeq: last.seq, lastHash: last.hash, first };
  });
}
