/**
 * Durable-file helpers shared by every module that keeps state on local disk (file backend,
 * approval store, audit log, config init): atomic replace, cross-process locks, private dirs.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import {
  closeSync, constants as fsConstants, fchmodSync, fdatasync, fstatSync, fsync, ftruncateSync, linkSync, promises as fs, openSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync, writeSync,
} from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { AssError } from './errors.js';

/**
 * Replaces `target` atomically: writes a temp file (random name, created exclusively with `mode`)
 * in the same directory, fsyncs it, renames it over the target and fsyncs the directory. A
 * reader sees either the old or the new content, never a mix; after this resolves the content
 * survives a crash. The temp file is removed when any step fails.
 *
 * The small calls (open, chmod, write, close, rename) are synchronous: a thread-pool hop costs
 * more than each of them (see readSmallFileSync). The two fsyncs, which take milliseconds, run
 * in the thread pool so the event loop keeps serving.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, mode);
    // Security: the umask can only strip bits; set the mode exactly so nothing stays wider.
    fchmodSync(fd, mode);
    writeFileSync(fd, data);
    await fsyncAsync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, target);
  } catch (error) {
    if (fd !== undefined) closeQuietly(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);

/**
 * Appends `data` to the existing file `target` and fdatasyncs it: after this resolves the
 * appended bytes (and the file's new length) survive a crash. The file must exist already (its
 * directory entry was made durable when it was created), so no rename and no directory fsync:
 * one write and one flush, against writeFileAtomic's two flushes.
 *
 * `truncateTo` first cuts the file back to that length (a torn last line left by a write that
 * never completed). A short write or a failed flush cuts the file back to where it was before
 * this append and throws, so a failed append leaves nothing a reader would take as written.
 * Callers hold the file's lock: appends to one file never interleave.
 */
export async function appendFileDurably(target: string, data: string | Uint8Array, truncateTo: number | null = null): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  // No O_CREAT: the file must already exist (an append never creates it).
  const fd = openSync(target, fsConstants.O_WRONLY | fsConstants.O_APPEND);
  try {
    if (truncateTo !== null) ftruncateSync(fd, truncateTo);
    const before = fstatSync(fd).size;
    try {
      const written = writeSync(fd, bytes);
      if (written !== bytes.length) throw new Error(`short write to ${path.basename(target)}: ${written} of ${bytes.length} bytes (disk full?)`);
      await fdatasyncAsync(fd);
    } catch (error) {
      try {
        ftruncateSync(fd, before);
      } catch {
        // The torn line stays; readers ignore a last line without its newline.
      }
      throw error;
    }
  } finally {
    closeQuietly(fd);
  }
}

/** unlink, ignoring a file that is already gone (cheaper than rmSync's checks on a hot path). */
function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; a rename there is as durable as it gets.
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    await fsyncAsync(fd);
  } catch (error) {
    // Some filesystems (e.g. certain network mounts) refuse fsync on a directory.
    if (!isErrno(error, 'EINVAL') && !isErrno(error, 'ENOTSUP')) throw error;
  } finally {
    closeQuietly(fd);
  }
}

/** mkdir -p with mode 0700; an existing directory is chmod-ed to 0700. */
export async function ensurePrivateDir(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  // Security: an existing directory may have been created wider (e.g. 0755 by hand).
  if (process.platform !== 'win32') await fs.chmod(dir, 0o700);
}

export interface FileLockOptions {
  /** Longest total wait (in-process queue plus file lock) before BACKEND_UNAVAILABLE. Default 30 s. */
  timeoutMs?: number;
  /**
   * A lock not refreshed for this long is taken over. Default 10 s; tests shorten it. Every
   * user of one lock must use the same value (a shorter one would take over live locks).
   */
  staleMs?: number;
  /** Called each time the lock is found held, before waiting (file-lease.ts: asks its holder to let go). */
  onWait?: () => void;
  /** Called once the lock is taken (file-lease.ts: withdraws the request `onWait` made). */
  onAcquired?: () => void;
}

export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** A lock whose mtime has not been refreshed for this long belongs to a dead process. */
export const STALE_MS = 10_000;
const MIN_RETRY_MS = 2;
const MAX_RETRY_MS = 25;

/*
 * Every cross-process lock is one file, `${target}.lock`, created exclusively (O_CREAT|O_EXCL)
 * and removed on release. A file, not a directory: on ext4, create + unlink measured 4-5×
 * cheaper than mkdir + rmdir (proper-lockfile's way, which this replaced).
 *
 * A lock whose mtime is older than the stale limit belongs to a dead (or stalled) process and
 * is taken over; a holder that may hold it for long refreshes the mtime. Taking over and
 * releasing never remove a lock by name after looking at it (another process may have put a
 * fresh lock there in between): the lock is first renamed to a name only we know, checked
 * there, and put back (a hard link, which fails if the name is taken again) if it was not the
 * one we meant to remove.
 */

export interface HeldLock {
  file: string;
  /**
   * Random content written into the lock file by holders that check ownership later: a
   * different content at the name means our lock was taken over (the inode number cannot tell,
   * the file system reuses it at once).
   */
  token: string;
}

/** Errors of an exclusive create that mean "someone holds it" (Windows: a lock being deleted). */
function isHeldError(error: unknown): boolean {
  return isErrno(error, 'EEXIST') || (process.platform === 'win32' && isErrno(error, 'EPERM'));
}

function lockError(target: string, error: unknown): AssError {
  return new AssError('BACKEND_UNAVAILABLE', `Could not lock ${path.basename(target)} (${errnoCode(error)}). Check that its directory exists and is writable by this user.`, {}, { cause: error });
}

/**
 * Creates the lock file with `token` in it, or returns null while someone else holds it; a
 * stale lock, or one whose holder died, is taken away so the next try can take it.
 */
function tryLock(file: string, target: string, staleMs: number, token: string): HeldLock | null {
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    if (!isHeldError(error)) throw lockError(target, error);
    removeIfStale(file, staleMs);
    return null;
  }
  try {
    writeFileSync(fd, token);
  } catch (error) {
    // A lock without its token could never be released by us: remove it at once.
    closeQuietly(fd);
    unlinkQuietly(file);
    throw lockError(target, error);
  }
  closeSync(fd);
  return { file, token };
}

/** A name beside `file` that no other process will use. */
const asideName = (file: string, why: string): string => `${file}.${why}-${randomBytes(6).toString('hex')}`;

/**
 * Lock content naming its holder: `holder:<host>:<pid namespace>:<pid>:<random>`. Every lock
 * writes one, so a waiter can take over at once from a process that died holding it (SIGKILL,
 * a crash, power loss of a container) instead of waiting out the stale limit. Only a holder of
 * this host AND this pid namespace is judged: containers sharing a volume may share a hostname
 * (host networking) while each has its own pids, and a pid of another namespace says nothing
 * here. A lock from elsewhere, or in an older format, waits out the stale limit as before.
 */
export function holderToken(): string {
  return `holder:${thisHolder()}:${process.pid}:${randomBytes(12).toString('hex')}`;
}

let ownHolder: string | undefined;

/**
 * `<host>:<pid namespace>` of this process, read once (both are asked for on every lock and
 * every retry): the namespace is the inode of /proc/self/ns/pid on Linux, "-" where there is none.
 */
function thisHolder(): string {
  if (ownHolder === undefined) {
    let namespace = '-';
    try {
      namespace = /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '-';
    } catch {
      // no /proc (not Linux): "-"
    }
    ownHolder = `${hostname()}:${namespace}`;
  }
  return ownHolder;
}

function holderIsGone(content: string): boolean {
  const match = /^holder:([^:]*:[0-9-]+):(\d+):[0-9a-f]+$/.exec(content);
  if (!match || match[1] !== thisHolder()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return isErrno(error, 'ESRCH');
  }
}

/** Removes a lock whose holder (per its content) is a process of this host that no longer runs. */
function removeIfHolderGone(file: string): void {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch {
    return;
  }
  if (!holderIsGone(content)) return;
  // As for a stale lock: moved aside first, and put back if it is not the one judged.
  const aside = asideName(file, 'gone');
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  let same = false;
  try {
    same = readFileSync(aside, 'utf8') === content;
    if (!same) linkSync(aside, file);
  } catch {
    // the name is taken again: that holder finds its lock gone at its next check
  } finally {
    unlinkQuietly(aside);
  }
}

function removeIfStale(file: string, staleMs: number): void {
  const isStale = (mtimeMs: number) => Date.now() - mtimeMs > staleMs;
  const held = statSync(file, { throwIfNoEntry: false });
  if (!held) return;
  if (!isStale(held.mtimeMs)) {
    removeIfHolderGone(file);
    return;
  }
  const aside = asideName(file, 'stale');
  try {
    renameSync(file, aside);
  } catch {
    return; // gone already: another waiter took it over first
  }
  const moved = statSync(aside, { throwIfNoEntry: false });
  if (moved && !isStale(moved.mtimeMs)) {
    // Between our look and our rename the stale lock was replaced by a live one: give it back.
    // (Older versions' lock directories cannot be hard-linked; they are renamed back.)
    try {
      if (moved.isDirectory()) renameSync(aside, file);
      else linkSync(aside, file);
    } catch {
      // The name is taken again; that lock's holder finds its lock gone at its next check.
    }
  }
  rmSync(aside, { recursive: true, force: true });
}

/** True when the lock file at the name is still the one `lock` created. */
export function isStillOurs(lock: HeldLock): boolean {
  try {
    return readFileSync(lock.file, 'utf8') === lock.token;
  } catch {
    return false;
  }
}

/** Removes our lock; returns false (and leaves the lock at the name alone) when it was not ours any more. */
export function releaseOwnLock(lock: HeldLock): boolean {
  const aside = asideName(lock.file, 'release');
  try {
    renameSync(lock.file, aside);
  } catch {
    return false; // gone: taken over and released by another process
  }
  let ours = false;
  try {
    ours = readFileSync(aside, 'utf8') === lock.token;
    if (!ours) linkSync(aside, lock.file);
  } catch {
    // unreadable, or the name is taken again: either way it was not ours
  } finally {
    unlinkQuietly(aside);
  }
  return ours;
}

export async function acquireLock(target: string, deadline: number, staleMs: number, token: string, onWait?: () => void): Promise<HeldLock> {
  const file = `${target}.lock`;
  let delay = MIN_RETRY_MS;
  for (;;) {
    const lock = tryLock(file, target, staleMs, token);
    if (lock) return lock;
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw lockTimeout();
    onWait?.();
    // Full jitter: waiters spread out instead of retrying in lock-step.
    await pause(Math.min(remaining, MIN_RETRY_MS + Math.random() * delay));
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
}

/**
 * Locks this process holds across awaits. When the process exits (also through process.exit
 * from a signal handler) they are released, so other processes do not wait out the stale limit.
 */
const heldLocks = new Set<HeldLock>();

/** No longer held (released, or found taken over). */
export function untrackHeld(lock: HeldLock): void {
  heldLocks.delete(lock);
}
let exitHookInstalled = false;

export function trackHeld(lock: HeldLock): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const held of heldLocks) {
        try {
          releaseOwnLock(held);
        } catch {
          // Exiting anyway: a lock we cannot remove goes stale and is taken over.
        }
      }
    });
  }
  heldLocks.add(lock);
}

/** In-process queue per lock path: the lock file alone does not order callers of one process. */
const queueTails = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding an exclusive lock on `target` (the file need not exist) that excludes both
 * other processes (the lock file `${target}.lock`) and concurrent callers in this process (a
 * promise chain per path, so in-process callers run one at a time in call order). The lock's
 * mtime is refreshed while `fn` runs; the lock of a process of this host that died holding it is
 * taken over at once, any other lock not refreshed for 10 s is taken over as stale.
 * The lock is always released, also when `fn` throws or the process exits. Waiting longer than
 * `timeoutMs` throws `BACKEND_UNAVAILABLE`.
 *
 * If the lock is lost while `fn` runs (the process stalled for longer than the stale limit and
 * another one took it over), the call throws `BACKEND_UNAVAILABLE` after `fn` settles, also when
 * `fn` itself failed (its error is the cause), because its write may have raced another one.
 */
export async function withFileLock<T>(target: string, fn: (stillHeld: () => boolean) => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const key = path.resolve(target);
  const previous = queueTails.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queueTails.set(key, tail);
  try {
    await waitUntil(previous, deadline);
    return await holdFileLock(key, fn, deadline, options.staleMs ?? STALE_MS);
  } finally {
    done();
    if (queueTails.get(key) === tail) queueTails.delete(key);
  }
}

async function holdFileLock<T>(target: string, fn: (stillHeld: () => boolean) => Promise<T>, deadline: number, staleMs: number): Promise<T> {
  const lock = await acquireLock(target, deadline, staleMs, holderToken());
  trackHeld(lock);
  let lost = false;
  const refresh = setInterval(() => {
    if (!isStillOurs(lock)) {
      lost = true;
      return;
    }
    try {
      const now = new Date();
      utimesSync(lock.file, now, now);
    } catch {
      // Transient (the token check above decides whether the lock is still ours): next tick.
    }
  }, staleMs / 2);
  refresh.unref();
  let outcome: { ok: true; value: T } | { ok: false; error: unknown };
  try {
    // `stillHeld` lets a caller check, right before it writes, that no other process broke the
    // lock while this one stalled (the interval below only notices it afterwards).
    outcome = { ok: true, value: await fn(() => !lost && isStillOurs(lock)) };
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    clearInterval(refresh);
    heldLocks.delete(lock);
    if (!releaseOwnLock(lock)) lost = true;
  }
  if (lost) {
    throw new AssError(
      'BACKEND_UNAVAILABLE',
      'The lock on the store was lost while writing: another process took it over, judging this one stalled. Read the secret back before retrying.',
      {},
      outcome.ok ? {} : { cause: outcome.error },
    );
  }
  if (!outcome.ok) throw outcome.error;
  return outcome.value;
}

function lockTimeout(): AssError {
  return new AssError(
    'BACKEND_UNAVAILABLE',
    'Timed out waiting for the lock on the store; another process holds it. Retry shortly; if it persists, check for a stuck agent-secret-store process.',
  );
}

async function waitUntil(promise: Promise<void>, deadline: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(lockTimeout()), Math.max(0, deadline - Date.now()));
  });
  try {
    await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs a short SYNCHRONOUS critical section `fn` under the same cross-process lock as
 * `withFileLock`, without its in-process queue or mtime refresh.
 *
 * For sections that never yield (the audit append): they cannot interleave with other callers
 * in this process and hold the lock for microseconds, so a lock older than the stale limit can
 * only belong to a process that died inside one. Waits (with jitter) only while another
 * process holds it.
 */
export async function withSyncFileLock<T>(target: string, fn: () => T, options: FileLockOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const lock = await acquireLock(path.resolve(target), deadline, options.staleMs ?? STALE_MS, holderToken(), options.onWait);
  options.onAcquired?.();
  try {
    return fn();
  } finally {
    // No ownership check here: a section of microseconds cannot outlive the stale limit.
    unlinkSync(lock.file);
  }
}

/**
 * Reads a small local file (a secret, the state, a key check), or null when it does not exist.
 *
 * Synchronous on purpose: these reads sit on every request, and on the machines we measured a
 * thread-pool hop costs ~30× the read itself (169 µs vs 5 µs for a 600-byte file, see
 * bench/RESULTS.md). Anything that can block for long (fsync, locks, large files) stays async.
 */
export function readSmallFileSync(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return null;
    throw error;
  }
}

/** True when `error` is a Node system error with this `code` (ENOENT, EEXIST, …). */
export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function errnoCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}
