/**
 * The on-disk format of one secret: `secrets/<hex sha256 of JSON [namespace,key]>`, in one of two
 * formats (the reader tells them apart by the first line's `format`):
 *
 * - `ass-file-v2` (written since the append-a-version layout): JSON lines. The first line is the
 *   clear header `{format:"ass-file-v2", namespace, key, id, created_at}`; every further line is
 *   one version `{version, iv, tag, ciphertext}` (base64), its plaintext the JSON of that version
 *   and its associated data `["ass-file-v2", namespace, key, id, created_at, version]`. A write
 *   appends one line (and fdatasyncs) instead of re-encrypting and replacing the whole history.
 *   Versions run consecutively (a line removed from the middle, or lines swapped, is refused); a
 *   last line without its newline is a write that never completed (a crash, or a writer still
 *   writing) and is not part of the secret; a header or line taken from another secret or another
 *   incarnation does not authenticate. Rolling back the tail is caught by the store manifest.
 * - `ass-file-v1` (older stores): one line `{format:"ass-file-v1", namespace, key, iv, tag,
 *   ciphertext}` whose plaintext is JSON `{id, created_at, versions:[…]}` and whose associated data
 *   binds `["ass-file-v1", namespace, key]`. Still read; the first write to such a file rewrites it
 *   as v2 (the migration), and `encodeSecretFile` still writes it (tests build old stores with it).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { associatedData, AuthenticationError, IV_BYTES, open, seal, TAG_BYTES } from './crypto.js';

export const FILE_FORMAT = 'ass-file-v1';
export const FILE_FORMAT_V2 = 'ass-file-v2';

/** File name of a secret: path-safe and distinct on case-insensitive filesystems. */
export function secretFileName(namespace: string, key: string): string {
  return createHash('sha256').update(JSON.stringify([namespace, key]), 'utf8').digest('hex');
}

export const SECRET_FILE_NAME = /^[0-9a-f]{64}$/;

const StoredVersionSchema = z.object({
  version: z.number().int().min(1),
  value: z.string(),
  secret_type: z.enum(SECRET_TYPES),
  access_tier: z.enum(ACCESS_TIERS),
  metadata: z.record(z.string(), z.string()),
  updated_at: z.string(),
});
export type StoredVersion = z.infer<typeof StoredVersionSchema>;

const StoredSecretSchema = z.object({
  id: z.string(),
  created_at: z.string(),
  versions: z.array(StoredVersionSchema).min(1),
  /**
   * Written by a store that keeps a manifest (manifest.ts). Inside the authenticated plaintext,
   * so a missing manifest beside such a file is tampering, not an older store to migrate.
   */
  manifested: z.literal(true).optional(),
});
/** Decrypted content of one secret file; `versions` oldest first. */
export type StoredSecret = z.infer<typeof StoredSecretSchema>;

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/);
const FileSchema = z.object({
  format: z.literal(FILE_FORMAT),
  namespace: z.string(),
  key: z.string(),
  iv: base64,
  tag: base64,
  ciphertext: base64,
});

/** Why a file could not be opened; the backend words the message for the agent. */
export class SecretFileError extends Error {
  constructor(readonly reason: 'malformed' | 'misplaced' | 'authentication') {
    super(reason);
    this.name = 'SecretFileError';
  }
}

/** Encrypts `secret` into the text of a v1 file (the older format; see the header). */
export function encodeSecretFile(encryptionKey: Buffer, namespace: string, key: string, secret: StoredSecret): string {
  const plaintext = Buffer.from(JSON.stringify(secret), 'utf8');
  try {
    const sealed = seal(encryptionKey, plaintext, associatedData([FILE_FORMAT, namespace, key]));
    return JSON.stringify({
      format: FILE_FORMAT,
      namespace,
      key,
      iv: sealed.iv.toString('base64'),
      tag: sealed.tag.toString('base64'),
      ciphertext: sealed.ciphertext.toString('base64'),
    }) + '\n';
  } finally {
    plaintext.fill(0);
  }
}

/**
 * `secret` exactly as decoding its file will return it (JSON round trip, then the schema), for a
 * writer that keeps what it wrote: a field the schema drops must not live on in memory only.
 */
export function asDecoded(secret: StoredSecret): StoredSecret {
  return StoredSecretSchema.parse(JSON.parse(JSON.stringify(secret)));
}

/** Reads only the clear header (namespace, key); throws `SecretFileError('malformed')`. */
export function readHeader(text: string): { namespace: string; key: string } {
  const header = isV2(text) ? parseHeaderV2(text) : parseFile(text);
  return { namespace: header.namespace, key: header.key };
}

/**
 * Decrypts a file's text, checking that its header names `namespace`/`key` (a file copied over
 * another secret's name is refused) and that the ciphertext authenticates against them.
 * Throws `SecretFileError`; never returns partial plaintext.
 */
export function decodeSecretFile(encryptionKey: Buffer, namespace: string, key: string, text: string): StoredSecret {
  if (isV2(text)) return decodeV2(encryptionKey, namespace, key, text);
  const file = parseFile(text);
  if (file.namespace !== namespace || file.key !== key) throw new SecretFileError('misplaced');
  const iv = Buffer.from(file.iv, 'base64');
  const tag = Buffer.from(file.tag, 'base64');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretFileError('malformed');
  let plaintext: Buffer;
  try {
    plaintext = open(encryptionKey, { iv, tag, ciphertext: Buffer.from(file.ciphertext, 'base64') }, associatedData([FILE_FORMAT, namespace, key]));
  } catch (error) {
    if (error instanceof AuthenticationError) throw new SecretFileError('authentication');
    throw error;
  }
  try {
    const parsed = StoredSecretSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
    if (!parsed.success) throw new SecretFileError('malformed');
    return parsed.data;
  } catch (error) {
    if (error instanceof SecretFileError) throw error;
    throw new SecretFileError('malformed');
  } finally {
    plaintext.fill(0);
  }
}

function parseFile(text: string): z.infer<typeof FileSchema> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SecretFileError('malformed');
  }
  const parsed = FileSchema.safeParse(raw);
  if (!parsed.success) throw new SecretFileError('malformed');
  return parsed.data;
}

// --- ass-file-v2: a header line, then one sealed line per version (see the header comment) ---

const HeaderV2Schema = z.object({ format: z.literal(FILE_FORMAT_V2), namespace: z.string(), key: z.string(), id: z.string(), created_at: z.string() }).strict();
type HeaderV2 = z.infer<typeof HeaderV2Schema>;
const VersionLineSchema = z.object({ version: z.number().int().min(1), iv: base64, tag: base64, ciphertext: base64 }).strict();

const V2_PREFIX = `{"format":"${FILE_FORMAT_V2}"`;

/** Whether `text` is a v2 file (its header is always written with `format` first). */
export function isV2(text: string): boolean {
  return text.startsWith(V2_PREFIX);
}

function versionAad(header: HeaderV2, version: number): Buffer {
  return associatedData([FILE_FORMAT_V2, header.namespace, header.key, header.id, header.created_at, String(version)]);
}

function headerOf(namespace: string, key: string, secret: Pick<StoredSecret, 'id' | 'created_at'>): HeaderV2 {
  return { format: FILE_FORMAT_V2, namespace, key, id: secret.id, created_at: secret.created_at };
}

/** One version as the line a write appends to a v2 file (ending in a newline). */
export function encodeVersionLine(encryptionKey: Buffer, namespace: string, key: string, secret: Pick<StoredSecret, 'id' | 'created_at'>, version: StoredVersion): string {
  const plaintext = Buffer.from(JSON.stringify(version), 'utf8');
  try {
    const sealed = seal(encryptionKey, plaintext, versionAad(headerOf(namespace, key, secret), version.version));
    return JSON.stringify({ version: version.version, iv: sealed.iv.toString('base64'), tag: sealed.tag.toString('base64'), ciphertext: sealed.ciphertext.toString('base64') }) + '\n';
  } finally {
    plaintext.fill(0);
  }
}

/** The whole text of a v2 file holding `secret`'s versions (a create, a migration, a compaction). */
export function encodeSecretFileV2(encryptionKey: Buffer, namespace: string, key: string, secret: StoredSecret): string {
  const lines = [`${JSON.stringify(headerOf(namespace, key, secret))}\n`];
  for (const version of secret.versions) lines.push(encodeVersionLine(encryptionKey, namespace, key, secret, version));
  return lines.join('');
}

/**
 * The complete lines of a v2 file: a last line without its newline (a write cut short, or
 * one still being written) is left out, as is the empty string after the final newline.
 */
export function completeLines(text: string): string[] {
  const lines = text.split('\n');
  lines.pop();
  return lines;
}

/**
 * Bytes of `text` up to and including its last newline: where an appender truncates a torn
 * tail back to before writing (null when the text already ends with a newline).
 */
export function tornTailOffset(text: string): number | null {
  if (text.endsWith('\n')) return null;
  return Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1), 'utf8');
}

function parseHeaderV2(text: string): HeaderV2 {
  const end = text.indexOf('\n');
  if (end < 0) throw new SecretFileError('malformed');
  return parseLine(text.slice(0, end), HeaderV2Schema);
}

function parseLine<T>(line: string, schema: z.ZodType<T>): T {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new SecretFileError('malformed');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new SecretFileError('malformed');
  return parsed.data;
}

function decodeV2(encryptionKey: Buffer, namespace: string, key: string, text: string): StoredSecret {
  const [first, ...rest] = completeLines(text);
  const header = parseLine(first ?? '', HeaderV2Schema);
  if (header.namespace !== namespace || header.key !== key) throw new SecretFileError('misplaced');
  if (rest.length === 0) throw new SecretFileError('malformed');
  const versions: StoredVersion[] = [];
  for (const line of rest) {
    const sealed = parseLine(line, VersionLineSchema);
    // Security: consecutive versions, so a line cut from the middle or lines swapped are refused.
    const previous = versions.at(-1);
    if (previous && sealed.version !== previous.version + 1) throw new SecretFileError('malformed');
    const iv = Buffer.from(sealed.iv, 'base64');
    const tag = Buffer.from(sealed.tag, 'base64');
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretFileError('malformed');
    let plaintext: Buffer;
    try {
      plaintext = open(encryptionKey, { iv, tag, ciphertext: Buffer.from(sealed.ciphertext, 'base64') }, versionAad(header, sealed.version));
    } catch (error) {
      if (error instanceof AuthenticationError) throw new SecretFileError('authentication');
      throw error;
    }
    try {
      const parsed = StoredVersionSchema.safeParse(JSON.parse(plaintext.toString('utf8')));
      if (!parsed.success || parsed.data.version !== sealed.version) throw new SecretFileError('malformed');
      versions.push(parsed.data);
    } catch (error) {
      if (error instanceof SecretFileError) throw error;
      throw new SecretFileError('malformed');
    } finally {
      plaintext.fill(0);
    }
  }
  // Every v2 file is written by a store that keeps a manifest.
  return { id: header.id, created_at: header.created_at, manifested: true, versions };
}
