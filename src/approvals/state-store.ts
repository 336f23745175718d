import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { AssError } from '../shared/errors.js';
import { ensurePrivateDir, readSmallFileSync, withFileLock, writeFileAtomic } from '../shared/durable-file.js';
import type { ApprovalRecord, TokenRecord } from './types.js';

/** Everything that changes at run time besides secrets: approvals, issued tokens, revoked keys. */
export interface State {
  version: 1;
  approvals: Record<string, ApprovalRecord>;
  tokens: Record<string, TokenRecord>;
  /** sha256 hex of agent keys revoked by a human; refused even by servers started earlier. */
  revoked_key_hashes: string[];
}

export function emptyState(): State {
  return { version: 1, approvals: {}, tokens: {}, revoked_key_hashes: [] };
}

/**
 * A small transactional store. `transact` runs `fn` on the current state under an exclusive
 * lock shared by every process, and persists the state if `fn` changed it. The embedded
 * implementation is one JSON file; a shared database can implement the same two calls so
 * several replicas serve one team.
 */
export interface StateStore {
  read(): Promise<State>;
  transact<T>(fn: (state: State) => T): Promise<T>;
}

export function createFileStateStore(path: string): StateStore {
  // Reads are cached while the file is unchanged: writes replace it by rename (new inode).
  let cache: { mtimeMs: number; ino: number; size: number; state: State } | null = null;
  // The folder is made (0700) once per process, not on every transaction.
  let dirReady: Promise<void> | null = null;

  // Synchronous stat and read: this runs on every request (see readSmallFileSync for why).
  async function load(): Promise<State> {
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) return emptyState();
    if (cache && cache.mtimeMs === info.mtimeMs && cache.ino === info.ino && cache.size === info.size) {
      return structuredClone(cache.state);
    }
    const text = readSmallFileSync(path);
    if (text === null) return emptyState();
    let state: State;
    try {
      state = { ...emptyState(), ...(JSON.parse(text) as State) };
    } catch (error) {
      throw new AssError('INTEGRITY_ERROR', 'The approvals state file is not valid JSON; it may have been edited by hand. Restore it from a backup.', {}, { cause: error });
    }
    cache = { mtimeMs: info.mtimeMs, ino: info.ino, size: info.size, state };
    return structuredClone(state);
  }

  return {
    read: load,
    async transact<T>(fn: (state: State) => T): Promise<T> {
      await (dirReady ??= ensurePrivateDir(dirname(path)).catch((error: unknown) => {
        dirReady = null;
        throw error;
      }));
      return withFileLock(path, async () => {
        const state = await load();
        const before = JSON.stringify(state);
        const result = fn(state);
        const after = JSON.stringify(state);
        if (after !== before) {
          await writeFileAtomic(path, after);
          cache = null;
        }
        return result;
      });
    },
  };
}
