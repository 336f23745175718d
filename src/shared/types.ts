/**
 * Types shared by every layer. This file imports nothing: policy, adapters, approvals,
 * audit and server all depend on it, and it depends on none of them.
 */

export const SECRET_TYPES = ['api_key', 'oauth_token', 'db_credential', 'ssh_key', 'certificate', 'custom'] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

/** Access tiers, weakest first: the order is used to pick the strictest tier on conflict. */
export const ACCESS_TIERS = ['standard', 'sensitive', 'critical'] as const;
export type AccessTier = (typeof ACCESS_TIERS)[number];

/** Actions named in scopes: `secrets:<action>:<namespace>/<key>`. */
/** `use` lets a secret be used without being revealed (src/use/: run, inject, run_with_secrets, http_request). */
export const ACTIONS = ['read', 'write', 'list', 'delete', 'rotate', 'use'] as const;
export type Action = (typeof ACTIONS)[number];

/** Free-form labels kept beside a secret (the seed's `metadata`, e.g. `{ "team": "ml" }`). */
export type SecretMetadata = Record<string, string>;

/** What a backend stores and returns for one version of one secret. */
export interface SecretRecord {
  namespace: string;
  key: string;
  value: string;
  version: number;
  /** Backends map a missing type (a secret written by another tool) to 'custom'. */
  secret_type: SecretType;
  /**
   * null when the backend holds no tier (a secret written by another tool): the server then
   * applies the tier the config gives the namespace. Adapters never invent one.
   */
  access_tier: AccessTier | null;
  metadata: SecretMetadata;
  /** ISO-8601: when the first version was written. */
  created_at: string;
  /** ISO-8601: when this version was written. */
  updated_at: string;
  /** Backend-specific id (file backend: a UUID; Vault: path; AWS: ARN). Never a value. */
  id: string;
}

/** A record without its value: the only shape a listing may carry. */
export type SecretSummary = Omit<SecretRecord, 'value'>;

/** What a caller asks a backend to write. */
export interface SecretWrite {
  namespace: string;
  key: string;
  value: string;
  secret_type: SecretType;
  access_tier: AccessTier;
  metadata: SecretMetadata;
}

/** Largest value any backend accepts, in UTF-8 bytes (AWS Secrets Manager's own limit). */
export const MAX_VALUE_BYTES = 65_536;

/** A clock is passed in wherever time matters, so tests can move it. */
export type Clock = () => Date;
export const systemClock: Clock = () => new Date();
