import { AssError } from '../../shared/errors.js';

/** How deep `listNamespaces` walks below the prefix. */
export const MAX_NAMESPACE_DEPTH = 8;

/**
 * Security: namespace and key become URL path segments under the configured prefix. A `..`
 * segment, an empty segment, a `/` inside a key or a control character could address a path
 * outside the prefix (or a different secret), so they are refused before any request. Each
 * segment is percent-encoded; Vault decodes it back.
 */
export function checkNamespace(namespace: string): string[] {
  const segments = namespace.split('/');
  if (namespace.length === 0 || segments.length > MAX_NAMESPACE_DEPTH || !segments.every(isSafeSegment)) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `Invalid namespace '${printable(namespace)}': use 1-${MAX_NAMESPACE_DEPTH} non-empty '/'-separated segments without '.' or '..'.`,
    );
  }
  return segments;
}

export function checkKey(key: string): void {
  if (!isSafeSegment(key)) {
    throw new AssError('INVALID_ARGUMENT', `Invalid key '${printable(key)}': a key is one non-empty segment without '/', '.' or '..'.`);
  }
}

function isSafeSegment(segment: string): boolean {
  // eslint-disable-next-line no-control-regex
  return segment.length > 0 && segment.length <= 256 && segment !== '.' && segment !== '..' && !/[/\u0000-\u001f\u007f]/.test(segment);
}

function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.slice(0, 80).replace(/[\u0000-\u001f\u007f]/g, '?');
}

export function encodePath(...parts: string[]): string {
  return parts
    .flatMap((p) => p.split('/'))
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** Where one KV engine keeps things; all returned paths are already percent-encoded. */
export class VaultPaths {
  constructor(
    readonly mount: string,
    readonly prefix: string,
    readonly kvVersion: 1 | 2,
  ) {}

  /** KV v2 `data/`, KV v1 the secret itself. */
  data(namespace: string, key: string): string {
    return this.kvVersion === 2
      ? encodePath(this.mount, 'data', this.prefix, namespace, key)
      : encodePath(this.mount, this.prefix, namespace, key);
  }

  /** KV v2 `metadata/` (KV v1: the secret itself). */
  metadata(namespace: string, key: string): string {
    return this.kvVersion === 2
      ? encodePath(this.mount, 'metadata', this.prefix, namespace, key)
      : encodePath(this.mount, this.prefix, namespace, key);
  }

  /** The folder to LIST; `namespace` '' is the prefix itself. Ends with '/'. */
  folder(namespace: string): string {
    const parts = namespace === '' ? [this.prefix] : [this.prefix, namespace];
    return (this.kvVersion === 2 ? encodePath(this.mount, 'metadata', ...parts) : encodePath(this.mount, ...parts)) + '/';
  }

  /** Human-readable id of a secret (never a value, never the server address). */
  id(namespace: string, key: string): string {
    return this.kvVersion === 2 ? `${this.mount}/data/${this.prefix}/${namespace}/${key}` : `${this.mount}/${this.prefix}/${namespace}/${key}`;
  }
}
