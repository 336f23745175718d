/**
 * A lease: the same cross-process lock file as `withSyncFileLock` (`${target}.lock`), but kept
 * between critical sections while this process keeps using it, instead of created and removed
 * around every one. For the audit log, where every request appends one record: creating and
 * removing the lock file were two metadata operations per request, more than the append itself.
 *
 * - Sections run one at a time and synchronously (`run`), only while the lease is held and was
 *   confirmed recently (see below); a process that lost it takes it again before its section.
 * - Another process that wants the lock says so by creating `${target}.want` while it waits
 *   (`signalWanted`, passed as `onWait` to `withSyncFileLock` or used by other leases), and
 *   removes it once it has the lock (`clearWanted`); the holder checks for that file after each
 *   section, lets go at once when it is there, and then keeps off the lock until the waiter has
 *   it (or 40 ms), so a busy holder never starves a waiter.
 * - Unused for `idleMs` the lease is let go, so a process that goes quiet never makes others wait.
 * - Its content names the holder (`holderToken`, as every lock here): a waiter on this host takes
 *   over at once from a holder that died; otherwise a lock not refreshed within the stale limit
 *   is taken over, as for every lock here. The holder refreshes its mtime every half stale limit and, after any gap of a
 *   quarter of it (a process stopped or stalled), confirms the lock is still its own before its
 *   next section: a section never runs on a lease another process has taken over by then.
 * - Released when the process exits (also through a signal handler's process.exit).
 */
import { closeSync, openSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import path from 'node:path';
import {
  acquireLock, DEFAULT_LOCK_TIMEOUT_MS, holderToken, isStillOurs, releaseOwnLock, STALE_MS, trackHeld, untrackHeld, type HeldLock,
} from './durable-file.js';

export interface FileLeaseOptions {
  /** Longest wait for the lock before BACKEND_UNAVAILABLE. Default 30 s. */
  timeoutMs?: number;
  /** The stale limit every user of this lock shares. Default 10 s. */
  staleMs?: number;
  /** Let go after this long without a section. Default 10 ms: another server sharing the log waits at most about that when this one just appended. */
  idleMs?: number;
}

export function wantFileOf(target: string): string {
  return `${path.resolve(target)}.want`;
}

/** Withdraws the request (the waiter that made it has the lock now). */
export function clearWanted(target: string): void {
  removeQuietly(wantFileOf(target));
}

/**
 * After letting go for a waiter, a holder keeps off the lock until the waiter has taken it (the
 * want file is gone) or this long has passed: longer than a waiter's longest pause between tries
 * (25 ms), so a busy holder cannot take the lock straight back and starve it.
 */
const YIELD_MS = 40;

/** Asks the holder of `target`'s lock to let go (creates `${target}.want`; the next holder removes it). */
export function signalWanted(target: string): void {
  try {
    closeSync(openSync(wantFileOf(target), 'a', 0o600));
  } catch {
    // Without the signal the holder still lets go when idle.
  }
}

export class FileLease {
  private readonly target: string;
  private readonly want: string;
  private readonly staleMs: number;
  private lock: HeldLock | null = null;
  private confirmedAt = 0;
  private acquiring: Promise<void> | null = null;
  private refresh: NodeJS.Timeout | null = null;
  private idle: NodeJS.Timeout | null = null;
  /** When this process last let go because another asked (performance.now()), or -Infinity. */
  private yieldedAt = -Infinity;
  private taken = 0;

  constructor(target: string, private readonly options: FileLeaseOptions = {}) {
    this.target = path.resolve(target);
    this.want = wantFileOf(target);
    this.staleMs = options.staleMs ?? STALE_MS;
  }

  /**
   * Counts the times this process took the lease: two sections that see the same value ran with
   * the lease held throughout, so no process that respects the lock ran anything in between.
   */
  get tenure(): number {
    return this.taken;
  }

  /** Whether this process holds the lease now. */
  get held(): boolean {
    return this.lock !== null;
  }

  /**
   * Runs the synchronous section `fn` holding the lease (taking it first when needed), then lets
   * the lease go if another process asked for it.
   */
  async run<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + (this.options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
    for (;;) {
      // The check and the section run in one synchronous step: nothing in this process can let
      // the lease go in between.
      if (this.lock && (performance.now() - this.confirmedAt < this.staleMs / 4 || this.confirm())) {
        try {
          return fn();
        } finally {
          this.afterSection();
        }
      }
      this.acquiring ??= this.acquire(deadline).finally(() => (this.acquiring = null));
      await this.acquiring;
    }
  }

  /** Lets the lease go (no-op when not held). */
  release(): void {
    const lock = this.lock;
    if (!lock) return;
    this.forget();
    try {
      releaseOwnLock(lock);
    } catch {
      // Left behind: it goes stale (or its holder is seen gone) and is taken over.
    }
  }

  private async acquire(deadline: number): Promise<void> {
    while (performance.now() - this.yieldedAt < YIELD_MS && statSync(this.want, { throwIfNoEntry: false })) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const lock = await acquireLock(this.target, deadline, this.staleMs, holderToken(), () => signalWanted(this.target));
    trackHeld(lock);
    this.lock = lock;
    this.taken++;
    this.confirmedAt = performance.now();
    // Taken: the request it stood for is answered. Other waiters create it again while they wait.
    removeQuietly(this.want);
    this.refresh = setInterval(() => this.confirm(), this.staleMs / 2);
    this.refresh.unref();
    this.idle = setTimeout(() => this.release(), this.options.idleMs ?? 10);
    this.idle.unref();
  }

  /** Refreshes the lock's mtime and checks it is still ours; forgets it when it is not. */
  private confirm(): boolean {
    const lock = this.lock;
    if (!lock) return false;
    try {
      const now = new Date();
      utimesSync(lock.file, now, now);
    } catch {
      // checked next
    }
    if (!isStillOurs(lock)) {
      this.forget();
      return false;
    }
    this.confirmedAt = performance.now();
    return true;
  }

  private afterSection(): void {
    if (statSync(this.want, { throwIfNoEntry: false })) {
      this.yieldedAt = performance.now();
      this.release();
    } else this.idle?.refresh();
  }

  private forget(): void {
    if (this.lock) untrackHeld(this.lock);
    this.lock = null;
    if (this.refresh) clearInterval(this.refresh);
    if (this.idle) clearTimeout(this.idle);
    this.refresh = null;
    this.idle = null;
  }
}

function removeQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // absent, or removed by another holder
  }
}
