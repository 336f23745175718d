/**
 * Listing summaries of secret files (namespace, key and the newest version's metadata, never a
 * value), each kept for as long as its file is the same file: same device, inode, size,
 * modification and change time. A listing then costs one `stat` per unchanged file instead of
 * reading and decrypting its whole history, so its cost does not grow with the versions kept
 * and one agent looping listings does not hold up the others.
 *
 * Security: a write replaces a file by rename (new inode) or appends to it (new size and
 * mtime), and any in-place change moves its ctime, which no unprivileged process can set back; a changed file is decrypted and
 * authenticated again before its summary is used. Reads (`get`) never use this cache.
 */
import type { Stats } from 'node:fs';
import type { SecretSummary } from '../../shared/types.js';

interface Entry {
  identity: string;
  summary: SecretSummary;
}

const identityOf = (info: Stats): string => `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;

export class SummaryCache {
  private readonly entries = new Map<string, Entry>();

  /** The summary of file `name` if it was taken from this very file; a copy, so callers may change it. */
  get(name: string, info: Stats): SecretSummary | undefined {
    const hit = this.entries.get(name);
    if (!hit || hit.identity !== identityOf(info)) return undefined;
    return { ...hit.summary, metadata: { ...hit.summary.metadata } };
  }

  set(name: string, info: Stats, summary: SecretSummary): void {
    this.entries.set(name, { identity: identityOf(info), summary: { ...summary, metadata: { ...summary.metadata } } });
  }

  /** Drops every entry whose file is not among `names` (deleted, possibly by another process). */
  retainOnly(names: ReadonlySet<string>): void {
    for (const name of [...this.entries.keys()]) if (!names.has(name)) this.entries.delete(name);
  }

  delete(name: string): void {
    this.entries.delete(name);
  }
}
