/**
 * Bounds on a secret's `metadata` (free-form labels such as `{"team": "ml"}`), the same on every
 * path that writes it (MCP, REST, the service itself): at most 32 entries, keys of 1-64 bytes,
 * values of at most 256 bytes, 4 KiB in all (UTF-8). Metadata is kept for every version and
 * shown in every listing, so without a bound it would bypass the value size limit and make
 * listings slow for everyone.
 *
 * Pure: no I/O. `SecretMetadataSchema` is for the transports' zod schemas; `checkMetadata` is
 * what the service runs whatever the transport.
 */
import { z } from 'zod';
import { AssError } from '../shared/errors.js';

export const MAX_METADATA_ENTRIES = 32;
export const MAX_METADATA_KEY_BYTES = 64;
export const MAX_METADATA_VALUE_BYTES = 256;
export const MAX_METADATA_TOTAL_BYTES = 4096;

const bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The first problem with `metadata`, worded for the caller, or null when it is within bounds. */
export function metadataProblem(metadata: Record<string, unknown>): string | null {
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) return `metadata has ${entries.length} entries; at most ${MAX_METADATA_ENTRIES} are allowed`;
  let total = 0;
  for (const [key, value] of entries) {
    // Security: never echo a label's content (it might hold what should have been a secret).
    if (typeof value !== 'string') return 'every metadata value must be a string';
    if (bytes(key) === 0 || bytes(key) > MAX_METADATA_KEY_BYTES) return `a metadata key is ${bytes(key)} bytes; keys must be 1-${MAX_METADATA_KEY_BYTES} bytes`;
    if (bytes(value) > MAX_METADATA_VALUE_BYTES) return `a metadata value is ${bytes(value)} bytes; values may have at most ${MAX_METADATA_VALUE_BYTES} bytes`;
    total += bytes(key) + bytes(value);
  }
  if (total > MAX_METADATA_TOTAL_BYTES) return `metadata is ${total} bytes in all; at most ${MAX_METADATA_TOTAL_BYTES} bytes are allowed`;
  return null;
}

/** @throws AssError INVALID_ARGUMENT naming the bound that `metadata` exceeds. */
export function checkMetadata(metadata: Record<string, unknown> | undefined): void {
  if (metadata === undefined) return;
  const problem = metadataProblem(metadata);
  if (problem) throw new AssError('INVALID_ARGUMENT', `${problem}. Keep labels short; never put secrets in metadata.`);
}

/** The zod schema the transports use (MCP tool input, REST body). */
export const SecretMetadataSchema = z.record(z.string(), z.string()).superRefine((metadata, ctx) => {
  const problem = metadataProblem(metadata);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
