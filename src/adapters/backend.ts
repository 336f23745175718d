import { AssError, type ErrorCode } from '../shared/errors.js';
import type { SecretRecord, SecretSummary, SecretWrite } from '../shared/types.js';

/** What a `put` returns: the write as stored, without its value, with the backend's own fields. */
export function summaryOfWrite(write: SecretWrite, stored: Pick<SecretSummary, 'version' | 'id' | 'created_at' | 'updated_at'>): SecretSummary {
  return {
    namespace: write.namespace,
    key: write.key,
    version: stored.version,
    secret_type: write.secret_type,
    access_tier: write.access_tier,
    metadata: { ...write.metadata },
    created_at: stored.created_at,
    updated_at: stored.updated_at,
    id: stored.id,
  };
}

/**
 * What a backend can do, declared so the contract suite and the server can adapt instead of
 * guessing (in the manner of external-secrets' provider capabilities).
 */
export interface BackendCapabilities {
  /** Older versions are kept and numbered; `version` grows by one per write. */
  versioning: boolean;
  /** `put` with `expectedVersion` is enforced atomically by the backend (check-and-set). */
  checkAndSet: boolean;
  /** Deleted secrets can be recovered for a while (e.g. AWS recovery window). */
  softDelete: boolean;
}

export interface PutOptions {
  /**
   * Check-and-set: write only if the newest version is this one (0 = must not exist yet).
   * A mismatch throws `CONFLICT`. Undefined means "append a new version whatever is there".
   */
  expectedVersion?: number;
}

export interface DeleteOptions {
  /** Skip a backend's recovery window. Only a human may ask for this. */
  force?: boolean;
}

export interface BackendHealth {
  ok: boolean;
  /** Short, scrubbed text for operators; never a value or credential. */
  detail: string;
  /** When not ok: the code calls get meanwhile, if not BACKEND_UNAVAILABLE (a backend that could not be opened, deferred-backend.ts). */
  code?: ErrorCode;
}

/**
 * One interface, many backends. A backend maps namespace/key/metadata/version onto its own
 * model. It never decides policy and never writes audit records: those wrap it.
 *
 * Contract (checked by `test/contract/backend-contract.ts` for every adapter):
 * - `get` returns the newest version, or `null` when the secret does not exist.
 * - `put` creates version 1 or appends version n+1 and returns the stored summary; it keeps
 *   `created_at` of version 1. Values over `MAX_VALUE_BYTES` throw `VALUE_TOO_LARGE`.
 * - `list(namespace)` returns summaries of secrets whose namespace equals `namespace` exactly
 *   (not children), sorted by key, never values.
 * - `listNamespaces()` returns every namespace holding at least one secret, plus each of their
 *   ancestors (`a/b/c` implies `a` and `a/b`), sorted and distinct.
 * - `delete` removes every version; it returns false when nothing was there.
 * - Errors are `AssError`s with scrubbed messages.
 */
export interface SecretBackend {
  readonly kind: string;
  readonly capabilities: BackendCapabilities;
  get(namespace: string, key: string): Promise<SecretRecord | null>;
  put(write: SecretWrite, options?: PutOptions): Promise<SecretSummary>;
  list(namespace: string): Promise<SecretSummary[]>;
  listNamespaces(): Promise<string[]>;
  delete(namespace: string, key: string, options?: DeleteOptions): Promise<boolean>;
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}

/** The CONFLICT a check-and-set write gets when the secret is not at the version it expected. */
export function versionConflict(namespace: string, key: string, expected: number, newest: number): AssError {
  return new AssError(
    'CONFLICT',
    newest === 0
      ? `${namespace}/${key} does not exist (expected version ${expected}). Read it again before writing.`
      : `${namespace}/${key} is at version ${newest}, not ${expected}: someone else wrote it. Read it again before writing.`,
    { expected_version: expected, current_version: newest },
  );
}
