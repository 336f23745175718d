import type { BackendCapabilities } from '../backend.js';
import type { SecretRecord, SecretSummary, SecretWrite } from '../../shared/types.js';

/**
 * One KV engine version's mapping. `VaultBackend` validates arguments, checks sizes, wraps
 * every call in auth/retry/error mapping and sorts; an engine only speaks Vault.
 * Vault errors propagate raw from here and are mapped in one place (`errors.ts`).
 */
export interface KvEngine {
  readonly capabilities: BackendCapabilities;
  read(namespace: string, key: string): Promise<SecretRecord | null>;
  /** Summary without the value, or null when there is no live version. */
  summary(namespace: string, key: string): Promise<SecretSummary | null>;
  /** One write attempt; throws CONFLICT (AssError) or a raw cas error on a version mismatch. */
  write(write: SecretWrite, expectedVersion: number | undefined): Promise<SecretSummary>;
  /** Raw LIST of a folder ('' = the prefix): names, folders ending in '/'. [] when absent. */
  children(namespace: string): Promise<string[]>;
  remove(namespace: string, key: string): Promise<boolean>;
}

/** `LIST` answers `{ data: { keys: [...] } }`. */
export function listKeys(response: unknown): string[] {
  const keys = (response as { data?: { keys?: unknown } } | undefined)?.data?.keys;
  return Array.isArray(keys) ? keys.filter((k): k is string => typeof k === 'string') : [];
}

export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

export function asIso(value: unknown, fallback: string): string {
  if (typeof value !== 'string' || value === '') return fallback;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? fallback : date.toISOString();
}

/** What we report when Vault holds no timestamp (a KV v1 secret written by another tool). */
export const UNKNOWN_TIME = new Date(0).toISOString();
