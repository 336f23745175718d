/**
 * The embedded default backend: one file per secret under `<dir>/secrets/`, each version sealed
 * with AES-256-GCM (secret-file.ts). Under a cross-process lock per secret, a write appends the
 * new version to the file and fdatasyncs it; a create, the migration of an older (v1) file and
 * the compaction of a history grown to twice `max_versions` replace the whole file atomically.
 */
import { randomUUID } from 'node:crypto';
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { versionConflict, type BackendCapabilities, type BackendHealth, type PutOptions, type SecretBackend } from '../backend.js';
import { AssError, isAssError } from '../../shared/errors.js';
import { appendFileDurably, isErrno, readSmallFileSync, withFileLock, writeFileAtomic } from '../../shared/durable-file.js';
import { MAX_VALUE_BYTES, systemClock, type Clock, type SecretRecord, type SecretSummary, type SecretWrite } from '../../shared/types.js';
import { verifyKeyCheck } from './crypto.js';
import type { KeySource } from './key-source.js';
import { StoreManifest, type ManifestEntries } from './manifest.js';
import { DecodedCache } from './decoded-cache.js';
import { SummaryCache } from './summary-cache.js';
import { asDecoded, decodeSecretFile, encodeSecretFileV2, encodeVersionLine, isV2, readHeader, SECRET_FILE_NAME, SecretFileError, secretFileName, tornTailOffset, type StoredSecret } from './secret-file.js';

export interface FileBackendOptions {
  /** Store directory (absolute). */
  dir: string;
  keySource: KeySource;
  /** Newest versions kept per secret; version numbers keep growing. */
  maxVersions: number;
  clock?: Clock;
}

export { DecodedCache } from './decoded-cache.js';

export class FileBackend implements SecretBackend {
  readonly kind = 'file';
  readonly capabilities: BackendCapabilities = { versioning: true, checkAndSet: true, softDelete: false };
  private readonly secretsDir: string;
  private readonly clock: Clock;
  private readonly decoded = new DecodedCache();
  private readonly manifest: StoreManifest;
  private readonly summaryCache = new SummaryCache();
  private decodesForListing = 0;

  constructor(private readonly options: FileBackendOptions) {
    this.secretsDir = path.join(options.dir, 'secrets');
    this.clock = options.clock ?? systemClock;
    this.manifest = new StoreManifest(options.dir, options.keySource.key);
  }

  /** Gives a store written before the manifest existed its manifest (see manifest.ts). */
  async openManifest(): Promise<void> {
    await this.manifest.ensure(async () => {
      const entries: ManifestEntries['live'] = {};
      for (const name of await this.fileNames()) {
        const text = await this.readText(name);
        if (text === null) continue;
        const { namespace, key } = this.header(name, text);
        const secret = this.decode(name, namespace, key, text, { keep: false, unchecked: true });
        // Security: only a store that never had a manifest gets one built from its files; a
        // deleted manifest must not switch rollback detection off (a file says it had one).
        if (secret.manifested) throw manifestMissing();
        const newest = secret.versions.at(-1)!;
        entries[name] = { id: secret.id, version: newest.version, tier: newest.access_tier };
      }
      return entries;
    });
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    refuseNul(namespace, key);
    const stored = await this.read(namespace, key);
    return stored ? toRecord(namespace, key, stored) : null;
  }

  async put(write: SecretWrite, options: PutOptions = {}): Promise<SecretSummary> {
    const { namespace, key } = write;
    refuseNul(namespace, key);
    if (Buffer.byteLength(write.value, 'utf8') > MAX_VALUE_BYTES) {
      throw new AssError('VALUE_TOO_LARGE', `The value for ${namespace}/${key} is larger than ${MAX_VALUE_BYTES} bytes (UTF-8). Store a reference to it instead.`);
    }
    const file = this.pathOf(namespace, key);
    const stored = await withFileLock(file, async () => {
      const name = secretFileName(namespace, key);
      const { text, secret: current } = await this.readWithText(namespace, key);
      const newest = current?.versions.at(-1)?.version ?? 0;
      if (options.expectedVersion !== undefined && options.expectedVersion !== newest) {
        throw versionConflict(namespace, key, options.expectedVersion, newest);
      }
      const now = this.clock().toISOString();
      const version = { version: newest + 1, value: write.value, secret_type: write.secret_type, access_tier: write.access_tier, metadata: { ...write.metadata }, updated_at: now };
      const identity = { id: current?.id ?? randomUUID(), created_at: current?.created_at ?? now };
      const storeKey = this.options.keySource.key;
      let next: StoredSecret;
      let written: string;
      // Append a version to a v2 file (one write and one fdatasync); rewrite the whole file only
      // to create it, to migrate a v1 file, or to compact a history grown to twice max_versions.
      if (current && text !== null && isV2(text) && current.versions.length + 1 <= 2 * this.options.maxVersions) {
        next = { ...identity, manifested: true, versions: [...current.versions, version] };
        const line = encodeVersionLine(storeKey, namespace, key, identity, version);
        const tornAt = tornTailOffset(text);
        await this.io('write', () => appendFileDurably(file, line, tornAt));
        written = (tornAt === null ? text : text.slice(0, text.lastIndexOf('\n') + 1)) + line;
      } else {
        next = { ...identity, manifested: true, versions: [...(current?.versions ?? []), version].slice(-this.options.maxVersions) };
        written = encodeSecretFileV2(storeKey, namespace, key, next);
        await this.io('write', () => writeFileAtomic(file, written));
      }
      const entry = { id: next.id, version: newest + 1, tier: write.access_tier };
      // The file first, the manifest second: a crash in between leaves the file newer than the
      // manifest, which is accepted (manifest.ts), never a good file that looks rolled back.
      // A first version has nothing older to roll back to (and an unseen id is accepted), so
      // only later versions take the store-wide manifest lock: creates stay parallel.
      if (current) await this.io('write', () => this.manifest.setLive(name, entry));
      this.decoded.set(name, written, asDecoded(next));
      return next;
    });
    return toSummary(namespace, key, stored);
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    const out: SecretSummary[] = [];
    for (const summary of await this.summaries()) if (summary.namespace === namespace) out.push(summary);
    return out.sort((a, b) => compare(a.key, b.key));
  }

  async listNamespaces(): Promise<string[]> {
    const namespaces = new Set<string>();
    for (const { namespace } of await this.summaries()) {
      const parts = namespace.split('/');
      for (let i = 1; i <= parts.length; i += 1) namespaces.add(parts.slice(0, i).join('/'));
    }
    return [...namespaces].sort(compare);
  }

  /** How many files listings have decrypted so far (each unchanged file once): for tests and the bench. */
  get listingDecodes(): number {
    return this.decodesForListing;
  }

  /**
   * A summary of every secret file: from the summary cache while a file is unchanged, else read,
   * decrypted (so a damaged file is reported here rather than hidden behind its header) and kept.
   * Each decryption is followed by a turn of the event loop, so a listing of many changed files
   * never holds up other requests for longer than one file.
   */
  private async summaries(): Promise<SecretSummary[]> {
    const out: SecretSummary[] = [];
    for (const name of await this.fileNames()) {
      const file = path.join(this.secretsDir, name);
      const info = await this.io('read', async () => statSync(file, { throwIfNoEntry: false }));
      if (!info) continue;
      const cached = this.summaryCache.get(name, info);
      if (cached) {
        out.push(cached);
        continue;
      }
      const entries = this.manifestSnapshot(); // before the file, as in read()
      const text = await this.readText(name);
      if (text === null) continue;
      const header = this.header(name, text);
      const summary = toSummary(header.namespace, header.key, this.decode(name, header.namespace, header.key, text, { keep: false, entries }));
      this.decodesForListing += 1;
      // Kept only if the file did not change between the stat and the read.
      const after = statSync(file, { throwIfNoEntry: false });
      if (after && after.ino === info.ino && after.mtimeMs === info.mtimeMs && after.size === Buffer.byteLength(text, 'utf8')) this.summaryCache.set(name, info, summary);
      out.push(summary);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return out;
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    refuseNul(namespace, key);
    const file = this.pathOf(namespace, key);
    return withFileLock(file, () =>
      this.io('delete', async () => {
        const name = secretFileName(namespace, key);
        this.decoded.delete(name);
        // The incarnation removed, read without the manifest check: a human may delete a
        // rolled-back or damaged secret to set it again.
        const ids = this.idOnDisk(name, namespace, key);
        try {
          await fs.unlink(file);
          await this.manifest.markDeleted(name, ids);
          return true;
        } catch (error) {
          if (isErrno(error, 'ENOENT')) return false;
          throw error;
        }
      }),
    );
  }

  async health(): Promise<BackendHealth> {
    try {
      const probe = path.join(this.options.dir, `.health-probe-${randomUUID()}`);
      await writeFileAtomic(probe, 'ok\n');
      await fs.unlink(probe);
    } catch (error) {
      return { ok: false, detail: `The store directory is not writable (${errnoCode(error)}).` };
    }
    const check = await this.storedKeyCheck();
    if (check === undefined) return { ok: false, detail: 'The store has no key check (kdf.json / key-check.json missing).' };
    if (!verifyKeyCheck(this.options.keySource.key, check)) return { ok: false, detail: `The key from ${this.options.keySource.description} does not unlock this store.` };
    return { ok: true, detail: 'File store writable; key verified.' };
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  private pathOf(namespace: string, key: string): string {
    return path.join(this.secretsDir, secretFileName(namespace, key));
  }

  private async read(namespace: string, key: string): Promise<StoredSecret | null> {
    return (await this.readWithText(namespace, key)).secret;
  }

  /** The secret and the text of its file as read (a writer needs both). */
  private async readWithText(namespace: string, key: string): Promise<{ text: string | null; secret: StoredSecret | null }> {
    const name = secretFileName(namespace, key);
    // The manifest before the file: a writer replaces the file first and the manifest second,
    // so a file read after the manifest is never older than it unless it was rolled back.
    const entries = this.manifestSnapshot();
    // One stat instead of open + read + close when the file is as it was when last read (about
    // 30 µs per get_secret on the loaded 2-core VM, bench/RESULTS.md). Every writer changes the
    // stamp: an append changes the size, a replacement (rename) the inode, and user space cannot
    // set ctime. The stamp is taken before the read, so a change between the two reads again.
    const stamp = await this.io('read', async () => fileStamp(path.join(this.secretsDir, name)));
    const known = stamp === null ? undefined : this.decoded.textIfUnchanged(name, stamp);
    const text = known ?? (await this.readText(name));
    if (text !== null) {
      const secret = this.decode(name, namespace, key, text, { keep: true, entries });
      if (stamp !== null && known === undefined) this.decoded.stampAs(name, text, stamp);
      return { text, secret };
    }
    this.decoded.delete(name);
    return { text: null, secret: null };
  }

  private readText(name: string): Promise<string | null> {
    return this.io('read', async () => readSmallFileSync(path.join(this.secretsDir, name)));
  }

  /**
   * Decrypts a file's text, or takes it from the cache, and checks it against the store
   * manifest (a rolled-back file is refused); `keep: false` adds nothing to the cache,
   * `unchecked` skips the manifest (only while building it); `entries` is the manifest as
   * loaded before the file was read (loading it after would race a concurrent writer).
   */
  private decode(name: string, namespace: string, key: string, text: string, options: { keep: boolean; unchecked?: boolean; entries?: ManifestSnapshot }): StoredSecret {
    const secret = this.decodeOnly(name, namespace, key, text, options.keep);
    if (!options.unchecked) {
      const newest = secret.versions.at(-1);
      const snapshot = options.entries ?? this.manifestSnapshot();
      // The file decrypted first: a wrong key is reported as such, not as a bad manifest.
      if ('error' in snapshot) throw snapshot.error;
      const { entries } = snapshot;
      // Security: a file written under a manifest, read with none beside it: the manifest was removed.
      if (entries === null && secret.manifested) throw manifestMissing();
      if (newest) this.manifest.check(entries, name, `${namespace}/${key}`, { id: secret.id, version: newest.version, tier: newest.access_tier });
    }
    return secret;
  }

  /** The manifest now, or the error loading it raised (thrown once the file was decrypted). */
  private manifestSnapshot(): ManifestSnapshot {
    try {
      return { entries: this.manifest.load() };
    } catch (error) {
      return { error };
    }
  }

  /** The id of the secret's file as it is on disk, if it decrypts (for a deletion's dead list). */
  private idOnDisk(name: string, namespace: string, key: string): string[] {
    const text = readSmallFileSync(path.join(this.secretsDir, name));
    if (text === null) return [];
    try {
      return [this.decodeOnly(name, namespace, key, text, false).id];
    } catch {
      return [];
    }
  }

  private decodeOnly(name: string, namespace: string, key: string, text: string, keep: boolean): StoredSecret {
    const cached = this.decoded.get(name, text);
    if (cached) return cached;
    try {
      const secret = decodeSecretFile(this.options.keySource.key, namespace, key, text);
      if (keep) this.decoded.set(name, text, secret);
      return secret;
    } catch (error) {
      this.decoded.delete(name);
      if (!(error instanceof SecretFileError)) throw error;
      throw new AssError(
        'INTEGRITY_ERROR',
        `The stored secret ${namespace}/${key} failed its integrity check (tampered or truncated file). ` +
          // Agent-facing: no server path. `health` and the CLI name the key source for operators.
          'Restore it from a backup or have a human delete and set it again; if the store was moved, check that its key (key file or passphrase) is the one it was written with.',
      );
    }
  }

  /** Header of a listed file; its name must be the hash of the namespace/key it claims. */
  private header(name: string, text: string): { namespace: string; key: string } {
    try {
      const header = readHeader(text);
      if (secretFileName(header.namespace, header.key) === name) return header;
    } catch (error) {
      if (!(error instanceof SecretFileError)) throw error;
    }
    throw new AssError('INTEGRITY_ERROR', `A stored secret file (secrets/${name}) failed its integrity check (unreadable, truncated or renamed). Restore it from a backup or remove it.`);
  }

  private async fileNames(): Promise<string[]> {
    // Only hex names are secrets: temp files start with '.', locks end with '.lock' (and more).
    const names = (await this.io('list', () => fs.readdir(this.secretsDir))).filter((name) => SECRET_FILE_NAME.test(name));
    const present = new Set(names);
    this.decoded.retainOnly(present);
    this.summaryCache.retainOnly(present);
    return names;
  }

  private async storedKeyCheck(): Promise<string | undefined> {
    for (const file of ['kdf.json', 'key-check.json']) {
      try {
        const parsed = JSON.parse(await fs.readFile(path.join(this.options.dir, file), 'utf8')) as { check?: unknown };
        if (typeof parsed.check === 'string') return parsed.check;
      } catch {
        // absent or unreadable: try the other one
      }
    }
    return undefined;
  }

  /** Runs file-system work, turning raw errors into scrubbed `BACKEND_UNAVAILABLE`. */
  private async io<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (isAssError(error)) throw error;
      throw new AssError('BACKEND_UNAVAILABLE', `Could not ${what} the file store (${errnoCode(error)}). Check that the store directory exists and is writable by this user.`, {}, { cause: error });
    }
  }
}

/**
 * What changes whenever a file's bytes do (inode, size, mtime, ctime), or null when it is absent.
 * Linux 6.13+ gives ctime fine-grained when it is queried (multigrain timestamps), so two writes
 * in one clock tick still differ; on older kernels an in-place rewrite of the same size within a
 * tick (~4 ms) keeps the stamp, which only an out-of-band edit of the store does (our writers
 * append or rename).
 */
function fileStamp(file: string): string | null {
  const info = statSync(file, { throwIfNoEntry: false });
  return info ? `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}` : null;
}

function refuseNul(namespace: string, key: string): void {
  // Security: names become JSON and hashes, never paths, but a NUL has no business in either.
  if (namespace.includes('\0') || key.includes('\0')) {
    throw new AssError('INVALID_ARGUMENT', 'A namespace or key must not contain a NUL character.');
  }
}

function toSummary(namespace: string, key: string, stored: StoredSecret): SecretSummary {
  const { value: _value, ...summary } = toRecord(namespace, key, stored);
  return summary;
}

function toRecord(namespace: string, key: string, stored: StoredSecret): SecretRecord {
  const newest = stored.versions.at(-1);
  if (!newest) throw new AssError('INTEGRITY_ERROR', `The stored secret ${namespace}/${key} has no versions.`);
  return {
    namespace,
    key,
    value: newest.value,
    version: newest.version,
    secret_type: newest.secret_type,
    access_tier: newest.access_tier,
    metadata: { ...newest.metadata },
    created_at: stored.created_at,
    updated_at: newest.updated_at,
    id: stored.id,
  };
}

/** Code-unit order, the same as `Array.prototype.sort()` without a comparator. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function errnoCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}

type ManifestSnapshot = { entries: ManifestEntries | null } | { error: unknown };

function manifestMissing(): AssError {
  return new AssError(
    'INTEGRITY_ERROR',
    'The store manifest (manifest.json) is missing although the store was written with one: it was removed, so a rolled-back file could not be detected. Nothing is served until it is restored from a backup.',
  );
}
