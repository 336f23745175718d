import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, fsync, fsyncSync, linkSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
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

/** The chain head from the log's last line; a torn or edited line is refused, never guessed. */
function parseHead(line: string, path: string): { seq: number; hash: string } {
  try {
    const last = JSON.parse(line) as Partial<AuditRecord>;
    if (typeof last.seq === 'number' && typeof last.hash === 'string') return { seq: last.seq, hash: last.hash };
  } catch {
    // reported below
  }
  throw new AssError('AUDIT_UNAVAILABLE', `The last line of the audit log ${path} is not a complete record (torn or edited); run \`audit verify\` and repair the log before continuing.`);
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
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
export interface AuditLogOptions {
  /** fsync every record before the request goes on (`audit.fsync`). */
  fsync?: boolean;
  /** What fsyncs a descriptor; tests slow it down to widen races. */
  syncDescriptor?: (fd: number) => Promise<void>;
}

export function createAuditLog(path: string, clock: () => Date = () => new Date(), options: AuditLogOptions = {}): AuditLog {
  const syncDescriptor = options.syncDescriptor ?? fsyncAsync;
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
    return parseHead(line, path);
  }

  function appendFd(ino: number | undefined): number {
    if (fd !== null && ino !== undefined && ino === fdIno) return fd;
    closeFd();
    fd = openSync(path, 'a', 0o600);
    fdIno = fstatSync(fd).ino;
    return fd;
  }

  // fsyncs run outside the lock, so a descriptor replaced meanwhile (the log was rotated) is
  // closed only when the last fsync on it has finished: never an fsync on a closed, or reused,
  // descriptor number.
  const syncsInFlight = new Map<number, number>();
  const retired = new Set<number>();

  function closeFd(): void {
    if (fd !== null) {
      if (syncsInFlight.has(fd)) retired.add(fd);
      else closeQuietly(fd);
    }
    fd = null;
  }

  /** Called under the lock, right after the write, so no other append can close `target` first. */
  function claimForSync(target: number): void {
    syncsInFlight.set(target, (syncsInFlight.get(target) ?? 0) + 1);
  }

  async function fsyncRecord(target: number): Promise<void> {
    try {
      await syncDescriptor(target);
    } finally {
      const left = (syncsInFlight.get(target) ?? 1) - 1;
      if (left > 0) syncsInFlight.set(target, left);
      else {
        syncsInFlight.delete(target);
        if (retired.delete(target)) closeQuietly(target);
      }
    }
  }

  async function append(event: AuditEvent, now: Date = clock()): Promise<AuditRecord> {
    try {
      await (dirReady ??= ensurePrivateDir(dirname(path)));
      let written = -1;
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
        if (options.fsync) claimForSync(out);
        written = out;
        cached = { size: (info?.size ?? 0) + line.length, ino: fdIno, seq: record.seq, hash: record.hash };
        return record;
      });
      // The write has reached the kernel either way (a failed write fails the request). fsync
      // per record costs milliseconds; like Vault's file audit device we leave it to the
      // operator (`audit.fsync: true`), and do it outside the lock so appenders do not queue on it,
      // on the very descriptor the record was written to.
      if (options.fsync) await fsyncRecord(written);
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
 * Starts a new audit file without breaking the chain: under the audit lock, writes the new
 * file's first record (an `audit.rotate` record that names the old file in `continues` and
 * chains to its last hash with the next sequence number) to a temporary file and fsyncs it,
 * gives the old log its second name `<name>.<UTC time>` (a hard link), then renames the new
 * file over the log name. The log name always holds a complete chain: a crash at any step
 * leaves either the old log or the new one there, never an empty name that would restart the
 * chain. Running servers notice the new inode on their next append and continue from that
 * record. Throws when the log is empty or absent.
 */
export async function rotateAuditLog(path: string, actor: string, now: Date = new Date()): Promise<Rotation> {
  return withSyncFileLock(path, () => {
    const line = readLastLine(path);
    if (!line) throw new AssError('INVALID_ARGUMENT', `The audit log ${path} is empty or absent; there is nothing to rotate.`);
    const last = parseHead(line, path);
    const rotatedTo = `${path}.${now.toISOString().replace(/:/g, '-')}`;
    if (existsSync(rotatedTo)) throw new AssError('CONFLICT', `${rotatedTo} exists already; rotate again in a moment.`);
    const body = { seq: last.seq + 1, ts: now.toISOString(), prev: last.hash, ...pick({ actor, action: 'audit.rotate', outcome: 'ok', continues: basename(rotatedTo) }) };
    const first: AuditRecord = { ...body, hash: hashRecord(body) };
    const next = `${path}.rotating-${randomBytes(6).toString('hex')}`;
    try {
      const fd = openSync(next, 'wx', 0o600);
      try {
        writeSync(fd, `${JSON.stringify(first)}\n`);
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
  });
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
