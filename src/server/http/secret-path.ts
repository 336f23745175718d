import { AssError } from '../../shared/errors.js';

/**
 * `/v1/secrets/{namespace…}/{key}`: every segment URL-decoded on its own, `/` kept as the
 * separator; the last segment is the key, the rest the namespace.
 * Security: a segment that decodes to `/` (an encoded `%2F`) is refused, so one path can never
 * be read as two different secrets.
 */
export function parseSecretPath(rest: string): { namespace: string; key: string } {
  const raw = rest.split('/');
  if (raw.length < 2 || raw.some((s) => s.length === 0)) {
    throw new AssError('INVALID_ARGUMENT', 'The path must be /v1/secrets/<namespace segments…>/<key>, each segment URL-encoded.');
  }
  const segments = raw.map((s) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(s);
    } catch {
      throw new AssError('INVALID_ARGUMENT', 'A path segment is not valid percent-encoding.');
    }
    if (decoded.includes('/')) throw new AssError('INVALID_ARGUMENT', 'A path segment may not contain an encoded "/"; use a literal "/" between namespace segments.');
    return decoded;
  });
  return { namespace: segments.slice(0, -1).join('/'), key: segments[segments.length - 1]! };
}

/** The inverse, used by clients (the `ass` adapter): each segment encoded, `/` kept. */
export function secretPath(namespace: string, key: string): string {
  return `/v1/secrets/${[...namespace.split('/'), key].map(encodeURIComponent).join('/')}`;
}
