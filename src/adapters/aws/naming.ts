import { AssError } from '../../shared/errors.js';

/** AWS: 1–512 characters of ASCII letters, digits and `/_+=.@-`. */
const AWS_NAME_CHARS = /^[A-Za-z0-9/_+=.@-]+$/;
export const AWS_NAME_MAX = 512;

/**
 * Builds `<prefix>/<namespace>/<key>` and checks it against AWS's naming rules before any
 * request, so the caller gets INVALID_ARGUMENT with a reason instead of a vendor error.
 */
export function secretName(prefix: string, namespace: string, key: string): string {
  checkNamespace(namespace);
  if (key.length === 0 || key.includes('/')) {
    throw new AssError('INVALID_ARGUMENT', `Key '${key}' is not valid: a key is non-empty and has no '/'.`);
  }
  const name = `${prefix}/${namespace}/${key}`;
  if (!AWS_NAME_CHARS.test(name)) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `'${namespace}/${key}' cannot be stored in AWS Secrets Manager: names may only contain letters, digits and / _ + = . @ -.`,
    );
  }
  if (name.length > AWS_NAME_MAX) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `'${namespace}/${key}' is too long for AWS Secrets Manager: the full name '<prefix>/<namespace>/<key>' may have at most ${AWS_NAME_MAX} characters.`,
    );
  }
  // AWS appends "-" plus 6 random characters to every ARN; a name ending like that makes
  // partial-ARN lookups ambiguous, and AWS asks callers not to create such names.
  if (name.charAt(name.length - 7) === '-') {
    throw new AssError(
      'INVALID_ARGUMENT',
      `Key '${key}' ends with '-' followed by 6 characters, which AWS Secrets Manager reserves for its generated ARN suffix. Choose a key that does not end like '-XXXXXX' (e.g. use '_' instead of the last '-').`,
    );
  }
  return name;
}

/** Throws INVALID_ARGUMENT unless `namespace` is non-empty `/`-separated segments of AWS name characters. */
export function checkNamespace(namespace: string): void {
  if (namespace.length === 0 || namespace.startsWith('/') || namespace.endsWith('/') || namespace.includes('//')) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `Namespace '${namespace}' is not valid: use non-empty segments separated by single '/' (e.g. 'production/stripe').`,
    );
  }
  if (!AWS_NAME_CHARS.test(namespace)) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `Namespace '${namespace}' cannot be stored in AWS Secrets Manager: names may only contain letters, digits and / _ + = . @ -.`,
    );
  }
}

/** Splits a stored name back into namespace and key; null when it is not ours. */
export function parseSecretName(prefix: string, name: string): { namespace: string; key: string } | null {
  const head = `${prefix}/`;
  if (!name.startsWith(head)) return null;
  const rest = name.slice(head.length);
  const cut = rest.lastIndexOf('/');
  if (cut <= 0 || cut === rest.length - 1) return null;
  const namespace = rest.slice(0, cut);
  if (namespace.startsWith('/') || namespace.includes('//')) return null;
  return { namespace, key: rest.slice(cut + 1) };
}
