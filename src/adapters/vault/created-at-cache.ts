/**
 * The one thing the KV v2 engine remembers between requests: when each secret was created, so
 * a steady-state read is one request to Vault instead of two.
 */

/** What a data read tells about the version it returned, when it tells all of it. */
export interface VersionInfo {
  version: number;
  /** This version's created_time (ISO). */
  createdTime: string;
}

/** How long a remembered created_at is trusted, and how many secrets' are kept. */
export const CREATED_AT_TTL_MS = 5 * 60_000;
export const CREATED_AT_MAX_ENTRIES = 10_000;

interface CreatedAtEntry extends VersionInfo {
  createdAt: string;
  cachedAtMs: number;
}

/**
 * created_at per secret (metadata path), so a steady-state read needs no metadata read. It is
 * the only thing kept: never a value, never custom_metadata. Vault gives no version-1 id we
 * could check, so an entry is trusted only while it can still belong to the same secret:
 * - the version read is not lower than the remembered one (lower: destroyed and recreated
 *   outside us), and at the remembered version its created_time is the remembered one;
 * - it is younger than CREATED_AT_TTL_MS, which bounds how long a recreation that reached a
 *   higher version outside us goes unnoticed.
 * At most CREATED_AT_MAX_ENTRIES entries; the least recently remembered is dropped first.
 */
export class CreatedAtCache {
  private readonly entries = new Map<string, CreatedAtEntry>();

  /** True when an entry exists and is young enough to be used. */
  has(path: string): boolean {
    const entry = this.entries.get(path);
    return entry !== undefined && this.fresh(entry);
  }

  lookup(path: string, current: VersionInfo): string | undefined {
    const entry = this.entries.get(path);
    if (!entry) return undefined;
    const sameSecret =
      current.version > entry.version || (current.version === entry.version && current.createdTime === entry.createdTime);
    if (sameSecret && this.fresh(entry)) return entry.createdAt;
    this.entries.delete(path);
    return undefined;
  }

  remember(path: string, createdAt: string, current: VersionInfo): void {
    this.entries.delete(path);
    this.entries.set(path, { createdAt, version: current.version, createdTime: current.createdTime, cachedAtMs: Date.now() });
    const oldest = this.entries.keys().next();
    if (this.entries.size > CREATED_AT_MAX_ENTRIES && !oldest.done) this.entries.delete(oldest.value);
  }

  delete(path: string): void {
    this.entries.delete(path);
  }

  private fresh(entry: CreatedAtEntry): boolean {
    const age = Date.now() - entry.cachedAtMs;
    return age >= 0 && age < CREATED_AT_TTL_MS;
  }
}

