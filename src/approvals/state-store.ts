import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { AssError } from '../shared/errors.js';
import { ensurePrivateDir, readSmallFileSync, withFileLock, writeFileAtomic } from '../shared/durable-file.js';
import { systemClock, type Clock } from '../shared/types.js';
import type { ApprovalRecord, TokenRecord } from './types.js';
import type { OutboxState } from '../shared/approval-events.js';

/** Everything that changes at run time besides secrets: approvals, issued tokens, revoked keys. */
export interface State extends OutboxState {
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
 * A small transactional store. `read` gives a deeply frozen snapshot (shared, never copied: it
 * is read on every request). `transact` runs `fn` on a private copy of the current state under
 * an exclusive lock shared by every process, and persists it if `fn` changed it. The embedded
 * implementation is one JSON file; a shared database can implement the same two calls so
 * several replicas serve one team.
 */
export interface StateStore {
  read(): Promise<State>;
  transact<T>(fn: (state: State) => T): Promise<T>;
}

/** How long human decisions (approved, denied) are kept after they stop mattering. */
export const APPROVAL_RETENTION_MS = 7 * 24 * 3_600_000;
/**
 * How long a request nobody answered, or a token approval whose grant ended unredeemed, is kept
 * (so `get_approval_status` can still answer `expired`): nothing a human decided, and what an
 * agent alone can create, so it goes soon.
 */
export const LAPSED_RETENTION_MS = 3_600_000;
/** Expired tokens go at the next write: an expired token fails on its `exp`, so its record decides nothing. */
export const TOKEN_RETENTION_MS = 0;

/**
 * Drops what can no longer change a decision, so the state stays small however long a server
 * runs: approvals a human decided, 7 days after they settled (denied, or grant ended); requests
 * that lapsed unanswered and token approvals never redeemed, an hour after; tokens an hour after
 * they expired (an expired token fails on its `exp` anyway). Revoked key hashes are kept. Every
 * one of these decisions is in the audit log.
 */
export function pruneState(state: State, now: Date): void {
  const t = now.getTime();
  for (const [id, a] of Object.entries(state.approvals)) {
    const lapsed = a.status === 'pending' || (a.status === 'approved' && a.kind === 'token' && !a.redeemed_at);
    const settledAt =
      a.status === 'denied' ? Date.parse(a.resolved_at ?? a.expires_at)
      : a.status === 'approved' ? Date.parse(a.resolved_at!) + a.delay_ms + a.ttl_ms
      : Date.parse(a.expires_at);
    if (t - settledAt > (lapsed ? LAPSED_RETENTION_MS : APPROVAL_RETENTION_MS)) delete state.approvals[id];
  }
  for (const [id, token] of Object.entries(state.tokens)) {
    if (t - Date.parse(token.expires_at) > TOKEN_RETENTION_MS) delete state.tokens[id];
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function createFileStateStore(path: string, clock: Clock = systemClock): StateStore {
  // Reads are cached while the file is unchanged: writes replace it by rename (new inode). The
  // text is kept so a transaction can tell whether it changed anything with one serialization.
  let cache: { mtimeMs: number; ino: number; size: number; state: State; text: string } | null = null;
  // The folder is made (0700) once per process, not on every transaction.
  let dirReady: Promise<void> | null = null;

  // Synchronous stat and read: this runs on every request (see readSmallFileSync for why).
  async function load(): Promise<State> {
    const info = statSync(path, { throwIfNoEntry: false });
    if (!info) return emptyState();
    if (cache && cache.mtimeMs === info.mtimeMs && cache.ino === info.ino && cache.size === info.size) return cache.state;
    const text = readSmallFileSync(path);
    if (text === null) return emptyState();
    let state: State;
    try {
      state = { ...emptyState(), ...(JSON.parse(text) as State) };
    } catch (error) {
      throw new AssError('INTEGRITY_ERROR', 'The approvals state file is not valid JSON; it may have been edited by hand. Restore it from a backup.', {}, { cause: error });
    }
    cache = { mtimeMs: info.mtimeMs, ino: info.ino, size: info.size, state: deepFreeze(state), text };
    return cache.state;
  }

  /** The text the current state was read from ('' when there is no file yet). */
  const loadedText = (): string => cache?.text ?? '';

  return {
    read: load,
    async transact<T>(fn: (state: State) => T): Promise<T> {
      await (dirReady ??= ensurePrivateDir(dirname(path)).catch((error: unknown) => {
        dirReady = null;
        throw error;
      }));
      return withFileLock(path, async () => {
        const current = await load();
        const before = current === cache?.state ? loadedText() : JSON.stringify(current);
        const state = structuredClone(current);
        const result = fn(state);
        pruneState(state, clock());
        // One serialization per transaction: compared with the text the state was read from.
        const after = JSON.stringify(state);
        if (after !== before) {
          await writeFileAtomic(path, after);
          // Keep what was written instead of reading it back: the file is ours under the lock.
          const info = statSync(path);
          cache = { mtimeMs: info.mtimeMs, ino: info.ino, size: info.size, state: deepFreeze(state), text: after };
        }
        return result;
      });
    },
  };
}
