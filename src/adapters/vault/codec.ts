import { AssError } from '../../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import type { AccessTier, SecretMetadata, SecretType, SecretWrite } from '../../shared/types.js';

/**
 * How our fields sit in Vault's own model.
 * - KV v2: `custom_metadata` keys `ass_secret_type`, `ass_access_tier`, `ass_meta_<label>`.
 *   Keys without the `ass_` prefix belong to other tools and are kept on every write.
 * - KV v1 (no custom_metadata): the same keys sit beside the value in the secret's data, plus
 *   `ass_version`, `ass_created_at`, `ass_updated_at`.
 * A secret written by another tool has none of them: `secret_type` 'custom', `access_tier` null.
 * Vault refuses empty or unprintable custom_metadata values, so such a label value is stored as
 * `ass_metaj_<label>` holding its JSON encoding with every unprintable character \u-escaped.
 */
export const TYPE_KEY = 'ass_secret_type';
export const TIER_KEY = 'ass_access_tier';
export const META_PREFIX = 'ass_meta_';
/** A label whose value Vault would refuse as is (empty, unprintable): stored JSON-escaped. */
export const META_JSON_PREFIX = 'ass_metaj_';
export const OWN_PREFIX = 'ass_';

/** Vault's KV v2 limits on custom_metadata. */
const MAX_CUSTOM_KEYS = 64;
const MAX_CUSTOM_KEY_BYTES = 128;
const MAX_CUSTOM_VALUE_BYTES = 512;

export interface DecodedFields {
  secret_type: SecretType;
  access_tier: AccessTier | null;
  metadata: SecretMetadata;
}

export function decodeFields(source: Record<string, unknown> | null | undefined): DecodedFields {
  const fields = source ?? {};
  const type = fields[TYPE_KEY];
  const tier = fields[TIER_KEY];
  const metadata: SecretMetadata = {};
  for (const [k, v] of Object.entries(fields)) {
    if (typeof v !== 'string') continue;
    if (k.startsWith(META_PREFIX)) metadata[k.slice(META_PREFIX.length)] = v;
    else if (k.startsWith(META_JSON_PREFIX)) metadata[k.slice(META_JSON_PREFIX.length)] = parseJsonString(v);
  }
  return {
    secret_type: SECRET_TYPES.includes(type as SecretType) ? (type as SecretType) : 'custom',
    access_tier: ACCESS_TIERS.includes(tier as AccessTier) ? (tier as AccessTier) : null,
    metadata,
  };
}

/** Our keys for a write, merged over the other tools' keys in `existing`. */
export function encodeFields(write: SecretWrite, existing: Record<string, unknown> | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(existing ?? {})) {
    if (!k.startsWith(OWN_PREFIX) && typeof v === 'string') out[k] = v;
  }
  out[TYPE_KEY] = write.secret_type;
  out[TIER_KEY] = write.access_tier;
  for (const [k, v] of Object.entries(write.metadata)) {
    if (v !== '' && isPrintable(v)) out[META_PREFIX + k] = v;
    else out[META_JSON_PREFIX + k] = escapeJson(v);
  }
  return out;
}

/** Go's unicode.IsPrint, which Vault applies to custom_metadata: graphic characters and ' '. */
const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]*$/u;

export function isPrintable(text: string): boolean {
  return PRINTABLE.test(text);
}

function escapeJson(value: string): string {
  return JSON.stringify(value).replace(/[^\p{L}\p{M}\p{N}\p{P}\p{S} ]/gu, (ch) =>
    Array.from({ length: ch.length }, (_, i) => `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  );
}

function parseJsonString(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'string' ? parsed : text;
  } catch {
    return text;
  }
}

/** Refuses, before any request, metadata that Vault's custom_metadata limits would reject. */
export function checkCustomMetadata(fields: Record<string, string>): void {
  const entries = Object.entries(fields);
  if (entries.length > MAX_CUSTOM_KEYS) {
    throw new AssError('INVALID_ARGUMENT', `Too many metadata labels for Vault: at most ${MAX_CUSTOM_KEYS - 2} in all.`);
  }
  for (const [k, v] of entries) {
    if (!isPrintable(k)) {
      throw new AssError('INVALID_ARGUMENT', 'A metadata label name has unprintable characters, which Vault refuses.');
    }
    if (Buffer.byteLength(k) > MAX_CUSTOM_KEY_BYTES || Buffer.byteLength(v) > MAX_CUSTOM_VALUE_BYTES) {
      throw new AssError(
        'INVALID_ARGUMENT',
        `Metadata label '${k.replace(/^ass_metaj?_/, '').slice(0, 60)}' is too long for Vault: names up to ${MAX_CUSTOM_KEY_BYTES - META_PREFIX.length} bytes, values up to ${MAX_CUSTOM_VALUE_BYTES} bytes.`,
      );
    }
  }
}

/**
 * The value out of a secret's data: the configured field when it is a string; otherwise (a
 * secret written by another tool with other fields) the data's own fields as JSON.
 */
export function decodeValue(data: Record<string, unknown> | null | undefined, field: string): string {
  const fields = data ?? {};
  const v = fields[field];
  if (typeof v === 'string') return v;
  if (v !== undefined) return JSON.stringify(v);
  const foreign = Object.fromEntries(Object.entries(fields).filter(([k]) => !k.startsWith(OWN_PREFIX)));
  return JSON.stringify(foreign);
}

const TIER_RANK: Record<AccessTier, number> = { standard: 0, sensitive: 1, critical: 2 };

/** True when writing `next` would make the secret's tier weaker than `current`. */
export function loosens(current: AccessTier | null, next: AccessTier): boolean {
  return current !== null && TIER_RANK[next] < TIER_RANK[current];
}
