/** The file backend's cache of decrypted secrets (see the class comment). */
import type { StoredSecret } from './secret-file.js';

/**
 * Decrypted secrets by file name, each reused only while its file holds exactly the bytes it
 * was decrypted from: a read checks the file (so another process's write, a delete or a
 * tampered byte is seen at once) but skips parsing and decrypting all its versions again.
 * The check is one stat when the file's stamp (inode, size, mtime, ctime) is the one it had
 * when its text was read (`textIfUnchanged`), else a read of the file compared byte for byte.
 *
 * It holds plaintext, as the process already holds the key that decrypts every file, and keeps
 * it small: only `get` and `put` add entries (a listing never does), least recently used go
 * first, within 512 entries and 32 MiB, and a listing drops the entries of files that are gone.
 */
export class DecodedCache {
  private readonly entries = new Map<string, { text: string; secret: StoredSecret; stamp?: string }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries = 512,
    private readonly maxBytes = 32 * 1024 * 1024,
  ) {}

  get(name: string, text: string): StoredSecret | undefined {
    const hit = this.entries.get(name);
    if (!hit || hit.text !== text) return undefined;
    // Most recently used last: eviction takes from the front.
    this.entries.delete(name);
    this.entries.set(name, hit);
    return hit.secret;
  }

  /**
   * The text last decrypted for `name`, when its file still has the stamp (inode, size, mtime,
   * ctime: file-backend.ts `fileStamp`) it had when that text was read; else undefined.
   */
  textIfUnchanged(name: string, stamp: string): string | undefined {
    const hit = this.entries.get(name);
    return hit?.stamp !== undefined && hit.stamp === stamp ? hit.text : undefined;
  }

  /** Notes the stamp `name`'s file had before `text` was read from it (only if `text` is what is cached). */
  stampAs(name: string, text: string, stamp: string): void {
    const hit = this.entries.get(name);
    if (hit && hit.text === text) hit.stamp = stamp;
  }

  set(name: string, text: string, secret: StoredSecret): void {
    this.delete(name);
    // Text and plaintext are about the same size; a file too big to share the budget is not kept.
    if (text.length * 2 > this.maxBytes / 8) return;
    this.entries.set(name, { text, secret: freezeSecret(secret) });
    this.bytes += text.length * 2;
    for (const [oldest] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  /** Drops every entry whose file is not among `names` (deleted by another process). */
  retainOnly(names: ReadonlySet<string>): void {
    for (const name of [...this.entries.keys()]) if (!names.has(name)) this.delete(name);
  }

  delete(name: string): void {
    const entry = this.entries.get(name);
    if (!entry) return;
    this.entries.delete(name);
    this.bytes -= entry.text.length * 2;
  }
}

/** Shared between callers, so frozen: nobody can change what the next read returns. */
function freezeSecret(secret: StoredSecret): StoredSecret {
  for (const version of secret.versions) Object.freeze(Object.freeze(version).metadata);
  Object.freeze(secret.versions);
  return Object.freeze(secret);
}
