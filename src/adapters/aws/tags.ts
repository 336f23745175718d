import type { Tag } from '@aws-sdk/client-secrets-manager';
import { AssError } from '../../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import type { AccessTier, SecretMetadata, SecretType } from '../../shared/types.js';

/** Tag keys the proxy owns. Anything else on a secret is left alone. */
export const TAG_TYPE = 'ass:secret_type';
export const TAG_TIER = 'ass:access_tier';
export const TAG_META = 'ass:meta:';
/** Metadata whose key AWS's tag alphabet cannot hold: `ass:meta64:<base64url(key)>`. */
export const TAG_META64 = 'ass:meta64:';
/** A tag value that AWS's alphabet cannot hold (or that starts with this marker). */
const VALUE64 = 'b64:';

/** AWS tag rules: key 1–128, value 0–256, letters/digits/spaces and `_ . : / = + - @`. */
const TAG_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;
const MAX_TAGS = 50;

export interface TagFields {
  secret_type: SecretType;
  access_tier: AccessTier | null;
  metadata: SecretMetadata;
}

/** Encodes type, tier and metadata as tags; INVALID_ARGUMENT when AWS would refuse them. */
export function encodeTags(fields: { secret_type: SecretType; access_tier: AccessTier; metadata: SecretMetadata }): Tag[] {
  const tags: Tag[] = [
    { Key: TAG_TYPE, Value: fields.secret_type },
    { Key: TAG_TIER, Value: fields.access_tier },
  ];
  for (const [name, value] of Object.entries(fields.metadata)) {
    const key = name.length > 0 && TAG_CHARS.test(name) ? `${TAG_META}${name}` : `${TAG_META64}${b64(name)}`;
    if (name.length === 0 || key.length > 128) {
      throw new AssError(
        'INVALID_ARGUMENT',
        `Metadata key '${name.slice(0, 40)}' cannot be stored as an AWS tag: keys are 1–${128 - TAG_META.length} characters (fewer outside letters, digits, spaces and _ . : / = + - @).`,
      );
    }
    const stored = TAG_CHARS.test(value) && !value.startsWith(VALUE64) ? value : `${VALUE64}${b64(value)}`;
    if (stored.length > 256) {
      throw new AssError(
        'INVALID_ARGUMENT',
        `Metadata '${name.slice(0, 40)}' is too long for an AWS tag value: at most 256 characters (about 180 outside letters, digits, spaces and _ . : / = + - @).`,
      );
    }
    tags.push({ Key: key, Value: stored });
  }
  if (tags.length > MAX_TAGS) {
    throw new AssError('INVALID_ARGUMENT', `Too many metadata entries: AWS allows ${MAX_TAGS - 2} per secret here.`);
  }
  return tags;
}

/**
 * Reads our tags back. A secret written by another tool has none: its type is 'custom' and
 * its tier null, so the server applies the tier the config gives its namespace.
 */
export function decodeTags(tags: Tag[] | undefined): TagFields {
  let secretType: SecretType = 'custom';
  let tier: AccessTier | null = null;
  const metadata: SecretMetadata = {};
  for (const tag of tags ?? []) {
    const key = tag.Key ?? '';
    const value = tag.Value ?? '';
    if (key === TAG_TYPE) {
      secretType = (SECRET_TYPES as readonly string[]).includes(value) ? (value as SecretType) : 'custom';
    } else if (key === TAG_TIER) {
      // Security: a tier tag we cannot read (hand-edited, misspelt) fails closed to the
      // strictest tier rather than to "no tier", which would let the config's weaker one apply.
      tier = (ACCESS_TIERS as readonly string[]).includes(value) ? (value as AccessTier) : 'critical';
    } else if (key.startsWith(TAG_META) && key.length > TAG_META.length) {
      metadata[key.slice(TAG_META.length)] = unb64Value(value);
    } else if (key.startsWith(TAG_META64) && key.length > TAG_META64.length) {
      metadata[fromB64(key.slice(TAG_META64.length))] = unb64Value(value);
    }
  }
  return { secret_type: secretType, access_tier: tier, metadata };
}

/** The stricter of two tiers (null = none set). */
export function stricterTier(a: AccessTier | null, b: AccessTier): AccessTier {
  if (a === null) return b;
  return ACCESS_TIERS.indexOf(a) > ACCESS_TIERS.indexOf(b) ? a : b;
}

/** Our tag keys present on the secret that the new tag set no longer has (stale metadata). */
export function staleTagKeys(current: Tag[] | undefined, next: Tag[]): string[] {
  const keep = new Set(next.map((tag) => tag.Key));
  return (current ?? [])
    .map((tag) => tag.Key ?? '')
    .filter((key) => (key === TAG_TYPE || key === TAG_TIER || key.startsWith(TAG_META) || key.startsWith(TAG_META64)) && !keep.has(key));
}

/**
 * AWS tags hold only letters, digits, spaces and `_ . : / = + - @`; anything else (emoji,
 * combining marks, quotes) is stored as base64url, whose alphabet AWS accepts.
 */
function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}

function fromB64(text: string): string {
  return Buffer.from(text, 'base64url').toString('utf8');
}

function unb64Value(value: string): string {
  return value.startsWith(VALUE64) ? fromB64(value.slice(VALUE64.length)) : value;
}
