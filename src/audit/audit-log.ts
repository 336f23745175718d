import { closeSync, fstatSync, fsync, openSync, readSync, statSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { basename, dirname } from 'node:path';
import { AssError } from '../shared/errors.js';
import { ensurePrivateDir } from '../shared/durable-file.js';
import { FileLease } from '../shared/file-lease.js';
import { createAuditKey, readAuditKey, type AuditKey } from './audit-key.js';
import { EVENT_FIELDS, hashAndLine, hashRecord as hashWithKey, KEYED_VERSION } from './record-hash.js';
import { setAsideTornTail, type TornTail } from './torn-tail.js';

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
  /** The person an agent acted for (OAuth sign-in), e.g. `admin:alice`. */
  on_behalf_of?: string;
}

export interface AuditRecord extends AuditEvent {
  seq: number;
  ts: string;
  prev: string;
  /** 2 for a record keyed with the audit key (record-hash.ts); absent on older, unkeyed records. */
  v?: number;
  hash: string;
}

const GENESIS = '0'.repeat(64);
const fsyncAsync = promisify(fsync);
const FIELDS = EVENT_FIELDS as readonly (keyof AuditEvent)[];

/**
 * The hash covers every field but `hash` itself, in a fixed order, chained to `prev`: keyed
 * (HMAC with the audit key) when the record has `v: 2`, else the older unkeyed SHA-256.
 * Null when a keyed record is hashed without its key.
 */
export function hashRecord(record: Omit<AuditRecord, 'hash'>, key?: Buffer | null): string | null {
  return hashWithKey(record as unknown as Parameters<typeof hashWithKey>[0], key);
}

/** Builds the next record after `head`, keyed when `key` is given. */
export function nextRecord(head: { seq: number; hash: string }, now: Date, event: AuditEvent, key: AuditKey | null): AuditRecord {
  return nextRecordLine(head, now, event, key).record;
}

/** The next record and its JSON line (with newline), serialized once (record-hash.ts `hashAndLine`). */
export function nextRecordLine(head: { seq: number; hash: string }, now: Date, event: AuditEvent, key: AuditKey | null): { record: AuditRecord; line: string } {
  // One object, filled in hashing order (seq, ts, prev, v, then the event's fields as EVENT_FIELDS lists them).
  const body: Record<string, unknown> = { seq: head.seq + 1, ts: now.toISOString(), prev: head.hash };
  if (key) body.v = KEYED_VERSION;
  for (const field of FIELDS) if (event[field] !== undefined) body[field] = event[field];
  const { hash, line } = hashAndLine(body as Omit<AuditRecord, 'hash'>, key?.key)!;
  body.hash = hash;
  return { record: body as unknown as AuditRecord, line: `${line}\n` };
}

/**
 * The audit key for the next record, under the audit lock: read once per process, created
 * (keyed from the next sequence number) when absent. A keyed log whose key file has gone is
 * refused: a new key would let the chain go on while hiding that the old one can no longer be
 * checked.
 */
export function keyFor(keyPath: string, head: { seq: number; v?: number }, logPath: string): AuditKey {
  const existing = readAuditKey(keyPath);
  if (existing) return existing;
  if (head.v !== undefined) {
    throw new AssError('AUDIT_UNAVAILABLE', `The audit log ${logPath} is keyed but its key file ${keyPath} is missing; restore it from a backup (a new key would hide the gap).`);
  }
  return createAuditKey(keyPath, head.seq + 1);
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
export function parseHead(line: string, path: string): { seq: number; hash: string; v?: number } {
  try {
    const last = JSON.parse(line) as Partial<AuditRecord>;
    if (typeof last.seq === 'number' && typeof last.hash === 'string') return { seq: last.seq, hash: last.hash, ...(typeof last.v === 'number' ? { v: last.v } : {}) };
  } catch {
    // reported below
  }
  throw new AssError('AUDIT_UNAVAILABLE', `The last line of the audit log ${path} is not a complete record (it was edited, or a write was cut short); run \`audit verify\` to see which.`);
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
 * each append holds the cross-process lock (a lease kept while this process keeps appending and
 * no other process asks for it, file-lease.ts), checks the chain head, and appends one line
 * (fsync'd when `options.fsync`). A failed append throws AUDIT_UNAVAILABLE so the caller
 * fails closed.
 */
export interface AuditLogOptions {
  /** fsync every record before the request goes on (`audit.fsync`). */
  fsync?: boolean;
  /** What fsyncs a descriptor; tests slow it down to widen races. */
  syncDescriptor?: (fd: number) => Promise<void>;
  /**
   * The audit key file (audit-key.ts): records are keyed (HMAC, `v: 2`) with it, and it is
   * created on the first append when absent. Without it records are unkeyed (tests of the
   * older format only; the server always passes it).
   */
  keyPath?: string;
}

export function createAuditLog(path: string, clock: () => Date = () => new Date(), options: AuditLogOptions = {}): AuditLog {
  const syncDescriptor = options.syncDescriptor ?? fsyncAsync;
  // In-process cache of the head, trusted only while the file is exactly as we left it.
  let cached: { size: number; ino: number; seq: number; hash: string; v?: number; tenure: number } | null = null;
  let auditKey: AuditKey | null = null;
  // The append descriptor stays open between records; reopened if the file was replaced.
  let fd: number | null = null;
  let fdIno = -1;
  // The folder is made (0700) once per process, not on every record.
  let dirReady: Promise<void> | null = null;
  // The audit lock, held across records while this process keeps appending (file-lease.ts):
  // one chain across processes without creating and removing a lock file for every record.
  const lease = new FileLease(path);

  function head(info: { size: number; ino: number } | undefined): { seq: number; hash: string; v?: number } {
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
      const record = await lease.run(() => {
        // While the lease has been held since this process's last record, no process that takes
        // the lock (servers, the CLI, `audit rotate`) can have written or replaced the log: the
        // file is as that record left it, so the cached head is trusted without a stat. Taken
        // anew (or after a failed append, which lets the lease go), the file is checked: stat,
        // torn-tail repair, head.
        // Synchronous stat, read and write under the lock: small local operations on every
        // request, where a thread-pool hop costs far more than the call (see readSmallFileSync).
        let info = cached && cached.tenure === lease.tenure ? { size: cached.size, ino: cached.ino } : statSync(path, { throwIfNoEntry: false });
        // A file not exactly as this process left it may end in a torn line (a write cut short
        // by a full disk or a crash): keep those bytes aside, then go on from the last record.
        let torn: TornTail | null = null;
        if (info && info.size > 0 && !(cached && cached.size === info.size && cached.ino === info.ino)) {
          torn = setAsideTornTail(path, now);
          if (torn) info = statSync(path, { throwIfNoEntry: false });
        }
        let last = head(info);
        if (options.keyPath) auditKey ??= keyFor(options.keyPath, last, path);
        let text = '';
        if (torn) {
          const repair = nextRecordLine(last, now, { actor: 'system', action: 'audit.repair', outcome: 'ok', reason: `a torn last line (${torn.length} bytes at offset ${torn.offset}) was kept in ${basename(torn.keptIn)}` }, auditKey);
          text = repair.line;
          last = repair.record;
        }
        const { record, line: recordLine } = nextRecordLine(last, now, event, auditKey);
        const out = appendFd(info?.ino);
        const line = Buffer.from(text + recordLine, 'utf8');
        // Security: a short write (the disk filled mid-line) is a failed write: the request
        // fails closed, and the torn tail it leaves is kept aside by the next append.
        const count = writeSync(out, line);
        if (count !== line.length) throw new Error(`short write to the audit log: ${count} of ${line.length} bytes (disk full?)`);
        if (options.fsync) claimForSync(out);
        written = out;
        cached = { size: (info?.size ?? 0) + line.length, ino: fdIno, seq: record.seq, hash: record.hash, ...(record.v !== undefined ? { v: record.v } : {}), tenure: lease.tenure };
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
      lease.release();
      // Security: fail closed. The caller must not act (or return a value) without its record.
      throw new AssError('AUDIT_UNAVAILABLE', 'The audit log could not be written, so the request was refused. An operator should check the audit log path and disk.', {}, { cause: error });
    }
  }

  return {
    append,
    close: async () => {
      closeFd();
      lease.release();
    },
    path,
  };
}

export { rotateAuditLog, type Rotation } from './audit-rotate.js';
