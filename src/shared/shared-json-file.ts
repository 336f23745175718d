import { statSync } from 'node:fs';
import { readSmallFileSync, withFileLock, writeFileAtomic } from './durable-file.js';

/** The file's identity and version as one string (inode, size, change and modification times in ns), or '' when absent. */
export function fileStamp(file: string): string {
  try {
    const s = statSync(file, { bigint: true });
    return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
  } catch {
    return '';
  }
}

/**
 * One JSON document in a file that every process on a data_dir shares (`oauth.json`,
 * `sessions.json`). Reads reuse the last parse while the file's stamp (one stat) is unchanged,
 * because some are made on every request; a change is made under the file lock on what the
 * file holds now, never on the cache, and the file is rewritten atomically only when the change
 * changed something.
 */
export class SharedJsonFile<T> {
  private cached: { stamp: string; data: T } | undefined;

  /** `parse` turns the file's text (null: no file yet) into the document, or throws the store's own error. */
  constructor(
    private readonly path: string,
    private readonly parse: (text: string | null) => T,
  ) {}

  /** The document as it is now. Read-only: callers copy what they hand out or keep. */
  read(): T {
    const before = fileStamp(this.path);
    if (this.cached && before !== '' && this.cached.stamp === before) return this.cached.data;
    const data = this.parse(readSmallFileSync(this.path));
    // Kept only if the file did not change while it was read (an unfinished write is never cached).
    this.cached = fileStamp(this.path) === before && before !== '' ? { stamp: before, data } : undefined;
    return data;
  }

  /** Runs `fn` on the document as the file holds it now, under the file lock, and writes what it changed. */
  change<R>(fn: (data: T) => R): Promise<R> {
    return withFileLock(this.path, async () => {
      const text = readSmallFileSync(this.path);
      const data = this.parse(text);
      const out = fn(data);
      const next = JSON.stringify(data);
      // Nothing changed (an unknown token, a sign-out of an ended session): no rewrite, no fsync.
      if (next !== text) {
        await writeFileAtomic(this.path, next);
        this.cached = undefined;
      }
      return out;
    });
  }
}
