import type { AccessTier, SecretRecord, SecretSummary, SecretWrite } from '../../shared/types.js';
import type { BackendCapabilities, BackendHealth, DeleteOptions, PutOptions, SecretBackend } from '../backend.js';
import { cacheTtlMs, type ReadCacheConfig } from './config.js';
import { DeferredBackend } from '../deferred-backend.js';

interface Entry {
  record: SecretRecord;
  bytes: number;
  expiresAt: number;
}

/** A read from the backend in progress; readers of the same secret share it (single flight). */
interface Flight {
  promise: Promise<SecretRecord | null>;
}

export interface ReadCacheOptions {
  /** Milliseconds now (the runtime's clock, so tests move time instead of waiting). */
  now?: () => number;
  /**
   * The tier the server applies to a record (its own, raised by the namespace's policy). Without
   * it, a record without a tier counts as critical, so it is not cached by default.
   */
  tierOf?: (namespace: string, stored: AccessTier | null) => AccessTier;
}

/**
 * The signal every process sharing one state store sees: a secret write anywhere (the
 * CLI, another replica) moves the marker, and a cache that sees it move drops everything.
 */
export interface SecretWriteSignal {
  /** Changes whenever any process published a write (read before every cached read). */
  marker(): Promise<string>;
  /** Moves the marker for every process (after this cache's own write or delete). */
  publish(): Promise<void>;
}

export interface ReadCacheStats {
  /** Reads answered without a backend read of their own (a cached entry, or joining a read in flight). */
  hits: number;
  /** Reads that went to the backend. */
  misses: number;
  /** Entries dropped to stay within max_entries and max_bytes. */
  evictions: number;
  entries: number;
  bytes: number;
}

/** Rough size of an entry: what it holds plus a fixed overhead per entry. */
const sizeOf = (r: SecretRecord): number =>
  Buffer.byteLength(r.value, 'utf8') + Buffer.byteLength(JSON.stringify(r.metadata), 'utf8') + r.namespace.length + r.key.length + r.id.length + 256;

/** A copy, so no caller can change what the cache holds. */
const copy = (r: SecretRecord): SecretRecord => ({ ...r, metadata: { ...r.metadata } });

/**
 * A read cache in front of a remote backend (Vault, AWS, a remote agent-secret-store), off by
 * default. It sits below the pipeline: access is decided on every read before a value leaves
 * the server, whatever the cache holds. Entries are per secret, in memory only (never written
 * anywhere), bounded by entries and bytes (least recently read evicted first), live for `ttl`
 * (a change made outside agent-secret-store is seen within it), and are dropped by every write or
 * delete through this server before it answers, so no reader sees its own write undone. With a
 * shared signal (`share`), a write or delete by any other process on the same state store (the
 * CLI, another replica) drops the whole cache before this process's next read.
 */
export class CachedBackend implements SecretBackend {
  readonly kind: string;
  readonly capabilities: BackendCapabilities;
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new Map<string, Flight>();
  private readonly ttlMs: number;
  private readonly tiers: ReadonlySet<AccessTier>;
  private readonly now: () => number;
  private readonly tierOf: (namespace: string, stored: AccessTier | null) => AccessTier;
  private bytes = 0;
  private signal: SecretWriteSignal | null = null;
  private markerSeen: string | null = null;
  private readonly counts = { hits: 0, misses: 0, evictions: 0 };

  constructor(
    readonly inner: SecretBackend,
    private readonly config: ReadCacheConfig,
    options: ReadCacheOptions = {},
  ) {
    this.kind = inner.kind;
    this.capabilities = inner.capabilities;
    this.ttlMs = cacheTtlMs(config.ttl);
    this.tiers = new Set(config.tiers);
    this.now = options.now ?? Date.now;
    this.tierOf = options.tierOf ?? ((_, stored) => stored ?? 'critical');
  }

  /** Joins the cross-process write signal (the runtime's state store, opened after the backend). */
  share(signal: SecretWriteSignal): void {
    this.signal = signal;
    this.markerSeen = null;
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    if (this.signal) {
      // Read before any entry is used: a write published by any process before this read began
      // is never answered from the cache (what a flight still in progress read is detached too).
      const marker = await this.signal.marker();
      if (marker !== this.markerSeen) {
        this.clear();
        this.markerSeen = marker;
      }
    }
    const id = cacheKey(namespace, key);
    const entry = this.entries.get(id);
    if (entry) {
      if (entry.expiresAt > this.now()) {
        // Most recently read last: Map keeps insertion order, so re-inserting is the LRU touch.
        this.entries.delete(id);
        this.entries.set(id, entry);
        this.counts.hits++;
        return copy(entry.record);
      }
      this.remove(id);
    }
    const joined = this.flights.get(id);
    if (joined) {
      this.counts.hits++;
      const record = await joined.promise;
      return record && copy(record);
    }
    this.counts.misses++;
    const flight: Flight = { promise: this.inner.get(namespace, key) };
    this.flights.set(id, flight);
    try {
      const record = await flight.promise;
      // Stored only if no write or delete of this secret dropped the flight meanwhile: what it
      // read may predate that write.
      if (record && this.flights.get(id) === flight && this.tiers.has(this.tierOf(namespace, record.access_tier))) this.store(id, record);
      return record && copy(record);
    } finally {
      if (this.flights.get(id) === flight) this.flights.delete(id);
    }
  }

  async put(write: SecretWrite, options?: PutOptions): Promise<SecretSummary> {
    const id = cacheKey(write.namespace, write.key);
    this.invalidate(id);
    try {
      return await this.inner.put(write, options);
    } finally {
      // Also after: a read that started during the write may have read the old version, and a
      // CONFLICT means the cached version is not the newest (the retry must read the backend).
      this.invalidate(id);
      await this.publish();
    }
  }

  async delete(namespace: string, key: string, options?: DeleteOptions): Promise<boolean> {
    const id = cacheKey(namespace, key);
    this.invalidate(id);
    try {
      return await this.inner.delete(namespace, key, options);
    } finally {
      this.invalidate(id);
      await this.publish();
    }
  }

  /**
   * Tells the other processes, also after a failed write (a timeout may still have written).
   * A failure to publish is reported: the write is done, but other caches may serve the old
   * value until `ttl`, which the human must hear of.
   */
  private async publish(): Promise<void> {
    await this.signal?.publish();
  }

  list(namespace: string): Promise<SecretSummary[]> {
    return this.inner.list(namespace);
  }

  listNamespaces(): Promise<string[]> {
    return this.inner.listNamespaces();
  }

  health(): Promise<BackendHealth> {
    return this.inner.health();
  }

  async close(): Promise<void> {
    this.clear();
    await this.inner.close();
  }

  /** Drops every entry and detaches reads in flight (an agent's access was revoked). */
  clear(): void {
    this.entries.clear();
    this.flights.clear();
    this.bytes = 0;
  }

  stats(): ReadCacheStats {
    return { ...this.counts, entries: this.entries.size, bytes: this.bytes };
  }

  private invalidate(id: string): void {
    this.remove(id);
    this.flights.delete(id);
  }

  private remove(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }

  private store(id: string, record: SecretRecord): void {
    const bytes = sizeOf(record);
    if (bytes > this.config.max_bytes) return;
    this.remove(id);
    this.entries.set(id, { record: copy(record), bytes, expiresAt: this.now() + this.ttlMs });
    this.bytes += bytes;
    // Evict the least recently read (the first in the Map's order) until within both bounds.
    while (this.entries.size > this.config.max_entries || this.bytes > this.config.max_bytes) {
      const oldest = this.entries.keys().next().value as string;
      this.remove(oldest);
      this.counts.evictions++;
    }
  }
}

/** A NUL cannot occur in a namespace or key, so the pair maps to one string unambiguously. */
const cacheKey = (namespace: string, key: string): string => `${namespace}\u0000${key}`;

/** The cache's figures for /metrics, or null when `backend` has no read cache. */
export function readCacheFigures(backend: SecretBackend): ReadCacheStats | null {
  const inner = backend instanceof DeferredBackend ? backend.opened : backend;
  return inner instanceof CachedBackend ? inner.stats() : null;
}

/** Joins `backend`'s read cache (if any) to the write signal every process on one state store shares. */
export function shareReadCache(backend: SecretBackend, signal: SecretWriteSignal): void {
  if (backend instanceof DeferredBackend) backend.onOpened((opened) => shareReadCache(opened, signal));
  else if (backend instanceof CachedBackend) backend.share(signal);
}

/** Drops everything `backend`'s read cache holds (no-op without one). */
export function dropReadCache(backend: SecretBackend): void {
  const inner = backend instanceof DeferredBackend ? backend.opened : backend;
  if (inner instanceof CachedBackend) inner.clear();
}
