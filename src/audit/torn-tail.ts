/**
 * A torn tail: the log does not end with a newline, because a write was cut short (the disk
 * filled, or the process died mid-write). Every record is written as one line ending in '\n',
 * so the bytes after the last newline are never a complete record.
 *
 * `setAsideTornTail` keeps the evidence: it appends those bytes (as text and as base64, with
 * their offset and time) to `<log>.torn`, fsyncs it, and only then truncates the log back to its
 * last complete line. If keeping them fails (the disk is still full) the log is left as it is
 * and the caller fails closed. `readTornTails` lets `audit verify` report what was kept aside.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { isErrno } from '../shared/durable-file.js';

export interface TornTail {
  /** Where the partial line started in the log. */
  offset: number;
  length: number;
  /** The file the bytes were kept in (`<log>.torn`). */
  keptIn: string;
}

export interface KeptTail {
  ts: string;
  log: string;
  offset: number;
  length: number;
  partial: string;
  partial_base64: string;
}

export function tornPathOf(logPath: string): string {
  return `${logPath}.torn`;
}

/** Offset just after the last '\n' in the first `size` bytes (0 when there is none). */
function lastLineStart(fd: number, size: number): number {
  const window = 64 * 1024;
  for (let end = size; end > 0; end -= window) {
    const start = Math.max(0, end - window);
    const buffer = Buffer.alloc(end - start);
    readSync(fd, buffer, 0, buffer.length, start);
    const cut = buffer.lastIndexOf(0x0a);
    if (cut >= 0) return start + cut + 1;
  }
  return 0;
}

/**
 * Called under the audit lock. Returns null when the log ends with a newline (or is empty or
 * absent); otherwise moves the partial last line aside and returns where it was.
 */
export function setAsideTornTail(logPath: string, now: Date): TornTail | null {
  let fd: number;
  try {
    fd = openSync(logPath, 'r+');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
  try {
    const { size } = fstatSync(fd);
    if (size === 0) return null;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    if (last[0] === 0x0a) return null;
    const offset = lastLineStart(fd, size);
    const partial = Buffer.alloc(size - offset);
    readSync(fd, partial, 0, partial.length, offset);
    const keptIn = tornPathOf(logPath);
    const entry: KeptTail = { ts: now.toISOString(), log: basename(logPath), offset, length: partial.length, partial: partial.toString('utf8'), partial_base64: partial.toString('base64') };
    const line = Buffer.from(`${JSON.stringify(entry)}\n`, 'utf8');
    const out = openSync(keptIn, 'a', 0o600);
    const before = fstatSync(out).size;
    try {
      // Security: the evidence must be on disk before the log forgets it.
      if (writeSync(out, line) !== line.length) throw new Error(`short write to ${keptIn} (disk full?)`);
      fsyncSync(out);
    } catch (error) {
      // Leave the side file as it was (no half entry); the log keeps its tail for the next try.
      ftruncateSync(out, before);
      throw error;
    } finally {
      closeSync(out);
    }
    ftruncateSync(fd, offset);
    fsyncSync(fd);
    return { offset, length: partial.length, keptIn };
  } finally {
    closeSync(fd);
  }
}

/**
 * What `<log>.torn` holds, for `audit verify`. A line of it that is not a complete entry (the
 * disk filled while keeping a tail) is returned with `length: -1`.
 */
export function readTornTails(logPath: string): KeptTail[] {
  let text: string;
  try {
    text = readFileSync(tornPathOf(logPath), 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return [];
    throw error;
  }
  return text.split('\n').filter((line) => line !== '').map((line) => {
    try {
      return JSON.parse(line) as KeptTail;
    } catch {
      return { ts: '', log: basename(logPath), offset: -1, length: -1, partial: line, partial_base64: '' };
    }
  });
}
