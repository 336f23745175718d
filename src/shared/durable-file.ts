/**
 * Durable-file helpers shared by every module that keeps state on local disk (file backend,
 * approval store, audit log, config init): atomic replace, cross-process locks, private dirs.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fs } from 'node:fs';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { AssError } from './errors.js';

/**
 * Replaces `target` atomically: writes a temp file (random name, created exclusively with `mode`)
 * in the same directory, fsyncs it, renames it over the target and fsyncs the directory. A
 * reader sees either the old or the new content, never a mix; after this resolves the content
 * survives a crash. The temp file is removed when any step fails.
 */
export async function writeFileAtomic(target: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = path.dirname(target);
  const temp = path.join(dir, `.${path.basename(target)}.${randomBytes(8).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(temp, fsConstants.O_CREAT | fsConstants.O_EXCL | fsConstants.O_WRONLY, mode);
    // Security: the umask can only strip bits; set the mode exactly so nothing stays wider.
    await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temp, target);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
  await fsyncDir(dir);
}

async function fsyncDir(dir: string): Promise<void> {
  // Windows cannot open a directory for fsync; a rename there is as durable as it gets.
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } catch (error) {
    // Some filesystems (e.g. certain network mounts) refuse fsync on a directory.
    if (!isErrno(error, 'EINVAL') && !isErrno(error, 'ENOTSUP')) throw error;
  } finally {
    await handle.close();
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
}

const DEFAULT_LOCK_TIMEOUT_MS = 30_000;
/** A lock whose mtime has not been refreshed for this long belongs to a dead process. */
const STALE_MS = 10_000;
const MIN_RETRY_MS = 2;
const MAX_RETRY_MS = 25;

/** In-process queue per lock path: proper-lockfile alone does not order callers of one process. */
const queueTails = new Map<string, Promise<void>>();

/**
 * Runs `fn` holding an exclusive lock on `target` (the file need not exist) that excludes both
 * other processes (proper-lockfile, lock dir `${target}.lock`) and concurrent callers in this
 * process (a promise chain per path, so in-process callers run one at a time in call order).
 * Locks of crashed processes are taken over after 10 s. The lock is always released, also when
 * `fn` throws. Waiting longer than `timeoutMs` throws `BACKEND_UNAVAILABLE`.
 *
 * If the lock is compromised while `fn` runs (its mtime could not be refreshed for 10 s, so
 * another process may have taken it over), the process does not crash: the call throws
 * `BACKEND_UNAVAILABLE` after `fn` settles, because its write may have raced another one.
 */
export async function withFileLock<T>(target: string, fn: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const key = path.resolve(target);
  const previous = queueTails.get(key) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queueTails.set(key, tail);
  try {
    await waitUntil(previous, deadline);
    return await holdFileLock(key, fn, deadline);
  } finally {
    done();
    if (queueTails.get(key) === tail) queueTails.delete(key);
  }
}

async function holdFileLock<T>(target: string, fn: () => Promise<T>, deadline: number): Promise<T> {
  let compromised: Error | undefined;
  const release = await acquire(target, deadline, (error) => {
    compromised = error;
  });
  let result: T;
  try {
    result = await fn();
  } finally {
    // A compromised lock is already gone; releasing it then rejects (ERELEASED / ENOTACQUIRED).
    await release().catch(() => undefined);
  }
  if (compromised) {
    throw new AssError(
      'BACKEND_UNAVAILABLE',
      'The lock on the store was lost while writing (the process stalled for over 10 seconds). Read the secret back before retrying.',
      {},
      { cause: compromised },
    );
  }
  return result;
}

async function acquire(target: string, deadline: number, onCompromised: (error: Error) => void): Promise<() => Promise<void>> {
  let delay = MIN_RETRY_MS;
  for (;;) {
    try {
      return await lockfile.lock(target, {
        realpath: false,
        lockfilePath: `${target}.lock`,
        stale: STALE_MS,
        retries: 0,
        onCompromised,
      });
    } catch (error) {
      if (!isErrno(error, 'ELOCKED')) {
        throw new AssError(
          'BACKEND_UNAVAILABLE',
          `Could not lock the store (${errnoCode(error)}). Check that the store directory exists and is writable by this user.`,
          {},
          { cause: error },
        );
      }
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw lockTimeout();
    // Full jitter: waiters spread out instead of retrying in lock-step.
    await pause(Math.min(remaining, MIN_RETRY_MS + Math.random() * delay));
    delay = Math.min(delay * 2, MAX_RETRY_MS);
  }
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

/** True when `error` is a Node system error with this `code` (ENOENT, EEXIST, …). */
export function isErrno(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}

function errnoCode(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'unknown error';
}
