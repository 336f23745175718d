/**
 * The on-disk format of one secret: `secrets/<hex sha256 of JSON [namespace,key]>` holding
 * `{format:"ass-file-v1", namespace, key, iv, tag, ciphertext}` (base64). The plaintext is JSON
 * `{id, created_at, versions:[…]}`; the associated data binds `["ass-file-v1", namespace, key]`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { associatedData, AuthenticationError, IV_BYTES, open, seal, TAG_BYTES } from './crypto.js';

export const FILE_FORMAT = 'ass-file-v1';

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

/** Encrypts `secret` into the text of its file. */
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
  const file = parseFile(text);
  return { namespace: file.namespace, key: file.key };
}

/**
 * Decrypts a file's text, checking that its header names `namespace`/`key` (a file copied over
 * another secret's name is refused) and that the ciphertext authenticates against them.
 * Throws `SecretFileError`; never returns partial plaintext.
 */
export function decodeSecretFile(encryptionKey: Buffer, namespace: string, key: string, text: string): StoredSecret {
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
