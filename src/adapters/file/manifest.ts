/**
 * The store manifest: `<dir>/manifest.json`, the newest version (and its id and tier) of every
 * secret in the file store, authenticated with an HMAC under a subkey of the store key
 * (HKDF-SHA-256, info `ass-manifest-v1`). It catches a rollback of one secret's file: someone
 * who can write the store directory but has no key puts back an older copy (an older value and
 * perhaps a lower tier). Each file is still sealed on its own; the manifest only says which
 * version must be there at least.
 *
 * A secret's `id` is random per incarnation (made when it is created, kept across versions), so
 * a file with an id the manifest never saw can only be a legitimate write whose manifest update
 * was lost. Deleting a secret moves its id to the name's `dead` list.
 *
 * Rules checked on every read of a secret (`check`):
 * - a file whose id is in the name's `dead` list is refused (a deleted secret's file put back);
 * - a file with the live id and a lower newest version than the manifest's is refused (rolled
 *   back), and one at the same version with another tier too;
 * - anything newer (a higher version, an unseen id) is accepted: writers write the file first and
 *   the manifest second, so a crash between the two leaves exactly that, never a false alarm.
 *
 * A first version is not entered (nothing older exists to roll back to); the second and later
 * versions are, so creates do not queue on the store-wide lock.
 *
 * Updates run under the manifest's own lock, always taken after (inside) a secret's file lock.
 * The manifest is replaced atomically (temp file and rename) without fsync: a lost update only
 * leaves it behind the files, which the rules accept. A store without a manifest (written before
 * it existed) gets one when the backend opens.
 *
 * Not detectable: a rollback of the whole directory, manifest included, to an older consistent
 * copy (an old backup put back), which needs a counter kept outside the directory; and a
 * deleted secret's file put back when the process died between the unlink and the manifest
 * update. After a power loss on a file system that can leave a renamed file empty, the manifest
 * fails its check and every read is refused: a human removes `manifest.json` and it is rebuilt
 * from the files as they are when the store is next opened.
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, constants as fsConstants, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ACCESS_TIERS } from '../../shared/types.js';
import { AssError } from '../../shared/errors.js';
import { readSmallFileSync, withFileLock, withSyncFileLock } from '../../shared/durable-file.js';

export const MANIFEST_FORMAT = 'ass-manifest-v1';
export const MANIFEST_FILE = 'manifest.json';

const EntrySchema = z.object({ id: z.string(), version: z.number().int().min(1), tier: z.enum(ACCESS_TIERS) }).strict();
export type ManifestEntry = z.infer<typeof EntrySchema>;
/** Live secrets by file name, and the ids of deleted incarnations by file name. */
export interface ManifestEntries {
  live: Record<string, ManifestEntry>;
  dead: Record<string, string[]>;
}

/** Deleted ids kept per name (oldest dropped first). */
const MAX_DEAD_PER_NAME = 64;

const ManifestSchema = z
  .object({ format: z.literal(MANIFEST_FORMAT), entries: z.record(z.string(), EntrySchema), dead: z.record(z.string(), z.array(z.string())), mac: z.string() })
  .strict();

/** Entries sorted by name, each with its fields in one order: the bytes the MAC covers. */
function canonical(entries: ManifestEntries): ManifestEntries {
  const live = Object.fromEntries(Object.keys(entries.live).sort().map((name) => {
    const { id, version, tier } = entries.live[name]!;
    return [name, { id, version, tier }];
  }));
  const dead = Object.fromEntries(Object.keys(entries.dead).sort().map((name) => [name, [...entries.dead[name]!]]));
  return { live, dead };
}

const TAMPERED = 'The store manifest (manifest.json) failed its integrity check: it was edited or truncated, or the store was opened with another key than it was written with (check the key file or passphrase). Otherwise restore the store from a backup.';

export class StoreManifest {
  readonly file: string;
  private readonly macKey: Buffer;
  private cached: { ino: number; size: number; mtimeMs: number; ctimeMs: number; entries: ManifestEntries } | null = null;

  constructor(dir: string, storeKey: Buffer) {
    this.file = path.join(dir, MANIFEST_FILE);
    this.macKey = Buffer.from(hkdfSync('sha256', storeKey, Buffer.alloc(0), MANIFEST_FORMAT, 32));
  }

  /** The verified entries, or null when the store has no manifest yet. Throws INTEGRITY_ERROR when tampered. */
  load(): ManifestEntries | null {
    const info = statSync(this.file, { throwIfNoEntry: false });
    if (!info) return null;
    const c = this.cached;
    if (c && c.ino === info.ino && c.size === info.size && c.mtimeMs === info.mtimeMs && c.ctimeMs === info.ctimeMs) return c.entries;
    const text = readSmallFileSync(this.file);
    if (text === null) return null;
    const entries = this.parse(text);
    this.cached = { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, entries };
    return entries;
  }

  /** Whether a manifest is there; one that fails its check is there too (reads report it, never rebuilt). */
  private exists(): boolean {
    return statSync(this.file, { throwIfNoEntry: false }) !== undefined;
  }

  /**
   * Refuses a secret file older than the manifest says (see the rules above). `entries` null
   * means the store has no manifest (only before the backend has opened it).
   */
  check(entries: ManifestEntries | null, name: string, label: string, stored: { id: string; version: number; tier: string }): void {
    if (entries === null) return;
    const entry = entries.live[name];
    const problem =
      entries.dead[name]?.includes(stored.id) ? 'was deleted, according to the store manifest (its old file was put back)'
      : entry === undefined || entry.id !== stored.id ? null
      : stored.version < entry.version ? `is at version ${stored.version} but the store manifest records version ${entry.version} (its file was rolled back to an older copy)`
      : stored.version === entry.version && stored.tier !== entry.tier ? 'has another tier than the store manifest records'
      : null;
    if (problem) {
      throw new AssError('INTEGRITY_ERROR', `The stored secret ${label} ${problem}. It is not served. Restore it from a backup, or have a human delete and set it again.`);
    }
  }

  /** Changes entries under the manifest lock (creating the manifest if absent) and writes it atomically. */
  async update(change: (entries: ManifestEntries) => void): Promise<void> {
    // A synchronous section (read, change, rename): the cheaper lock without queue or refresh.
    await withSyncFileLock(this.file, () => {
      const current = this.load();
      const entries: ManifestEntries = { live: { ...current?.live }, dead: { ...current?.dead } };
      change(entries);
      this.write(entries);
    });
  }

  /** Records a new newest version of a live secret. */
  setLive(name: string, entry: ManifestEntry): Promise<void> {
    return this.update((entries) => void (entries.live[name] = entry));
  }

  /** Records a deletion: the ids of the incarnations removed go to the name's dead list. */
  markDeleted(name: string, ids: string[]): Promise<void> {
    return this.update((entries) => {
      const live = entries.live[name];
      delete entries.live[name];
      const dead = new Set([...(entries.dead[name] ?? []), ...ids, ...(live ? [live.id] : [])]);
      entries.dead[name] = [...dead].slice(-MAX_DEAD_PER_NAME);
    });
  }

  /** Makes the manifest from what is there, if the store has none yet (migration of older stores). */
  async ensure(build: () => Promise<ManifestEntries['live']>): Promise<void> {
    if (this.exists()) return;
    await withFileLock(this.file, async () => {
      if (this.exists()) return;
      this.write({ live: await build(), dead: {} });
    });
  }

  /** Atomic replace (exclusive temp file, rename) without fsync: see the header for why. */
  private write(entries: ManifestEntries): void {
    const body = canonical(entries);
    const text = Buffer.from(`${JSON.stringify({ format: MANIFEST_FORMAT, entries: body.live, dead: body.dead, mac: this.mac(body) })}\n`, 'utf8');
    const temp = path.join(path.dirname(this.file), `.${MANIFEST_FILE}.${randomBytes(8).toString('hex')}.tmp`);
    try {
      const fd = openSync(temp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, 0o600);
      try {
        if (writeSync(fd, text) !== text.length) throw new Error('short write to the store manifest (disk full?)');
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.file);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
    this.cached = null;
  }

  private mac(entries: ManifestEntries): string {
    return createHmac('sha256', this.macKey).update(JSON.stringify([MANIFEST_FORMAT, entries.live, entries.dead])).digest('base64');
  }

  private parse(text: string): ManifestEntries {
    let parsed: z.infer<typeof ManifestSchema>;
    try {
      parsed = ManifestSchema.parse(JSON.parse(text));
    } catch {
      throw new AssError('INTEGRITY_ERROR', TAMPERED);
    }
    const sorted = canonical({ live: parsed.entries, dead: parsed.dead });
    const expected = Buffer.from(this.mac(sorted), 'base64');
    const given = Buffer.from(parsed.mac, 'base64');
    // Security: constant-time comparison of the MAC.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new AssError('INTEGRITY_ERROR', TAMPERED);
    return sorted;
  }
}
