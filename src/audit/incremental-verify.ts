import { createHash, type Hash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { AuditKey } from './audit-key.js';
import { readTornTails, tornPathOf } from './torn-tail.js';
import { checkChainLine, linkToOlder, newChainState, tornLastLineProblem, type AuditVerification, type ChainState } from './verify.js';

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

/** What was verified of one file: up to `offset` (the end of its last complete line). */
interface Verified {
  path: string;
  ino: number;
  size: number;
  mtimeMs: number;
  /** The audit key's identity when this was verified (a new key means a new check). */
  keyId: string;
  offset: number;
  state: ChainState;
  problems: AuditVerification['problems'];
  /** sha256 over bytes [0, offset): how an edit of an already verified line is caught. */
  prefix: Hash;
}

/**
 * The audit chain's status for a page that is viewed often (the dashboard's audit page): the
 * same line checks as `audit verify` (verify.ts), but a log that only grew since the last view
 * is verified from where the last check stopped. Unchanged (inode, size, mtime): the cached
 * result. Grown: the verified prefix is re-hashed (sha256 only, no parsing or HMAC, so ~20x
 * cheaper than a full check) and compared with the digest kept from the last check — any byte
 * edited in it means a full check — then only the new lines are checked. Replaced (rotation),
 * shrunk, or a different key: a full check.
 */
export class IncrementalAuditVerifier {
  private verified: Verified | null = null;
  /** Bytes read for line checks by the last call: for tests and the figures in the docs. */
  lastCheckedBytes = 0;

  private queue: Promise<unknown> = Promise.resolve();

  /** One check at a time (two page views at once share the cached state). */
  verify(path: string, key: AuditKey | null): Promise<AuditVerification> {
    const next = this.queue.then(() => this.verifyNow(path, key));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async verifyNow(path: string, key: AuditKey | null): Promise<AuditVerification> {
    if (this.verified && this.verified.path !== path) this.verified = null;
    const file = basename(path);
    const info = await stat(path).catch(() => null);
    const keyId = key ? createHash('sha256').update(key.key).update(String(key.keyedFromSeq)).digest('hex') : '-';
    this.lastCheckedBytes = 0;
    if (!info) {
      this.verified = null;
      return this.result(path, file, null, key);
    }
    let v = this.verified;
    if (v && (v.ino !== info.ino || v.keyId !== keyId || info.size < v.offset)) v = null;
    if (v && v.size === info.size && v.mtimeMs === info.mtimeMs) return this.result(path, file, v, key);
    if (v && !(await this.prefixUnchanged(path, v))) v = null;
    v ??= { path, ino: info.ino, size: 0, mtimeMs: 0, keyId, offset: 0, state: newChainState(), problems: [], prefix: createHash('sha256') };
    await this.checkFrom(path, file, v, key);
    v.size = info.size;
    v.mtimeMs = info.mtimeMs;
    this.verified = v;
    return this.result(path, file, v, key);
  }

  /** Re-hashes [0, offset) and compares it with the digest kept when it was verified. */
  private async prefixUnchanged(path: string, v: Verified): Promise<boolean> {
    const fresh = createHash('sha256');
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      for (let at = 0; at < v.offset; ) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, v.offset - at), at);
        if (bytesRead === 0) return false;
        fresh.update(buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
    } finally {
      await handle.close();
    }
    return fresh.digest('hex') === v.prefix.copy().digest('hex');
  }

  /** Checks the complete lines after `v.offset`, moving the state, the digest and the offset on. */
  private async checkFrom(path: string, file: string, v: Verified, key: AuditKey | null): Promise<void> {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.allocUnsafe(CHUNK);
      let carry = Buffer.alloc(0);
      for (let at = v.offset; ; ) {
        const { bytesRead } = await handle.read(buffer, 0, CHUNK, at);
        if (bytesRead === 0) break;
        at += bytesRead;
        this.lastCheckedBytes += bytesRead;
        let data = carry.length ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
        let start = 0;
        for (let nl = data.indexOf(NEWLINE, start); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
          const line = data.subarray(start, nl);
          v.prefix.update(data.subarray(start, nl + 1));
          v.offset += nl + 1 - start;
          checkChainLine(v.state, line.toString('utf8').replace(/\r$/, ''), file, key, v.problems);
          start = nl + 1;
        }
        data = data.subarray(start);
        carry = Buffer.from(data);
      }
    } finally {
      await handle.close();
    }
  }

  private async result(path: string, file: string, v: Verified | null, key: AuditKey | null): Promise<AuditVerification> {
    const result: AuditVerification = { ok: true, count: 0, head: null, files: [], problems: [], keyed: Boolean(key) };
    const kept = readTornTails(path);
    if (kept.length > 0) result.tornTails = kept.map((tail) => ({ file: basename(tornPathOf(path)), ts: tail.ts, offset: tail.offset, length: tail.length }));
    if (v) {
      result.problems.push(...v.problems);
      result.count = v.state.count;
      result.head = v.state.head;
      result.files = [file];
      // Bytes after the last newline: a line being written, or one cut short. Judged as the full check does.
      if (v.size > v.offset) {
        result.count++;
        result.problems.push({ file, line: result.count, problem: tornLastLineProblem(path) });
      }
      await linkToOlder(path, v.state, result, false, key);
    }
    result.ok = result.problems.length === 0;
    return result;
  }
}
