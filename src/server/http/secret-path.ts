import { AssError } from '../../shared/errors.js';

/**
 * Paths under `/v1/secrets/`. Two spellings of a namespace are accepted, and mean the same:
 * - each segment encoded on its own, `/` kept: `/v1/secrets/production/gemini/API_KEY`;
 * - the hosted product's, the whole namespace as one encoded segment:
 *   `/v1/secrets/production%2Fgemini/API_KEY` (what its official MCP server sends).
 * The last raw segment is always the key.
 * Security: every segment is decoded first; the decoded names then go through the pipeline's
 * own validation exactly as today (`validatePath` in the service: traversal `..`, empty
 * segments, look-alike unicode and control characters refused after decoding). A key may never
 * contain an encoded `/`, so one path can never be read as two different secrets.
 */
export function parseSecretPath(rest: string): { namespace: string; key: string } {
  const raw = rest.split('/');
  if (raw.length < 2 || raw.some((s) => s.length === 0)) {
    throw new AssError('INVALID_ARGUMENT', 'The path must be /v1/secrets/<namespace>/<key>: the namespace as "/"-joined segments or as one URL-encoded segment, then the key.');
  }
  const segments = raw.map(decodeSegment);
  const key = segments[segments.length - 1]!;
  if (key.includes('/')) throw new AssError('INVALID_ARGUMENT', 'The key (the last path segment) may not contain an encoded "/".');
  return { namespace: segments.slice(0, -1).join('/'), key };
}

/** `/v1/secrets/{namespace}` for a listing: segments decoded (an encoded `/` allowed); the service validates the name. */
export function parseNamespacePath(rest: string): string {
  const raw = rest.split('/');
  if (raw.some((s) => s.length === 0)) throw new AssError('INVALID_ARGUMENT', 'The path must be /v1/secrets/<namespace>, without empty segments.');
  return raw.map(decodeSegment).join('/');
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new AssError('INVALID_ARGUMENT', 'A path segment is not valid percent-encoding.');
  }
}

/** The inverse, used by clients: each segment encoded, `/` kept. */
export function secretPath(namespace: string, key: string): string {
  return `/v1/secrets/${[...namespace.split('/'), key].map(encodeURIComponent).join('/')}`;
}
