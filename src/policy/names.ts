/**
 * Namespace and key grammar. Every name that reaches policy, an adapter or an audit record
 * has passed through here first.
 *
 * A segment is ASCII `[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,127}`; a namespace is 1..8 segments
 * joined by `/`; a key is exactly one segment; `namespace/key` is at most 512 characters.
 * Names are case-sensitive.
 */

import { AssError } from '../shared/errors.js';

/** Longest segment, in characters. */
export const MAX_SEGMENT_LENGTH = 128;
/** Most segments a namespace may have. */
export const MAX_NAMESPACE_DEPTH = 8;
/** Longest `namespace/key`, in characters. */
export const MAX_PATH_LENGTH = 512;

// Security: ASCII only (no look-alike unicode, no NUL, no `%`, no `/`, no `\`, no spaces) and
// the first character cannot be `.`, so `.`, `..` and hidden names are impossible in any
// backend that maps segments onto files or URL paths. JS `$` without the `m` flag only matches
// at the very end of the input, so a trailing `\n` is rejected too.
const SEGMENT_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,127}$/;

/** One-line description of the name grammar, used in error messages. */
export const NAME_RULES_TEXT =
  'a segment is 1-128 ASCII characters from A-Z a-z 0-9 _ . @ + = - starting with A-Z a-z 0-9 or _ ' +
  '(so no spaces, "%", "\\", unicode or control characters); a namespace is 1-8 segments joined by "/" ' +
  '(no leading, trailing or double slash); a key is one segment; "namespace/key" is at most 512 characters; ' +
  'names are case-sensitive';

/** True when `s` is one valid name segment. Never throws; non-strings are invalid. */
export function isValidSegment(s: unknown): s is string {
  return typeof s === 'string' && SEGMENT_RE.test(s);
}

/** Quote untrusted text for a message: JSON-escaped and cut to 200 characters. */
export function quoteForMessage(text: unknown): string {
  const s = typeof text === 'string' ? text : String(text);
  // Security: JSON quoting escapes control characters and newlines, so a hostile name cannot
  // forge extra lines in a log or in the text an agent reads; truncation bounds message size.
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/** Why `ns` is not a valid namespace, or null when it is. */
function namespaceProblem(ns: unknown): string | null {
  if (typeof ns !== 'string') return 'it is not a string';
  if (ns.length === 0) return 'it is empty';
  // Longest namespace that still leaves room for "/" and a one-character key.
  if (ns.length > MAX_PATH_LENGTH - 2) return `it is longer than ${MAX_PATH_LENGTH - 2} characters`;
  if (ns.startsWith('/')) return 'it starts with "/"';
  if (ns.endsWith('/')) return 'it ends with "/"';
  const segments = ns.split('/');
  if (segments.length > MAX_NAMESPACE_DEPTH) {
    return `it has ${segments.length} segments (at most ${MAX_NAMESPACE_DEPTH})`;
  }
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] ?? '';
    const problem = segmentProblem(segment);
    if (problem !== null) return `segment ${i + 1} ${quoteForMessage(segment)} ${problem}`;
  }
  return null;
}

function segmentProblem(segment: string): string | null {
  if (segment.length === 0) return 'is empty (double slash)';
  if (segment.length > MAX_SEGMENT_LENGTH) return `is longer than ${MAX_SEGMENT_LENGTH} characters`;
  if (!SEGMENT_RE.test(segment)) return 'has a character that is not allowed or starts with one that may not lead';
  return null;
}

/** True when `ns` is a valid namespace. Never throws. */
export function isValidNamespace(ns: unknown): ns is string {
  return namespaceProblem(ns) === null;
}

/** True when `key` is a valid key (one segment). Never throws. */
export function isValidKey(key: unknown): key is string {
  return isValidSegment(key);
}

/** True when both names are valid and `namespace/key` fits in 512 characters. Never throws. */
export function isValidPath(namespace: unknown, key: unknown): boolean {
  return (
    isValidNamespace(namespace) && isValidKey(key) && namespace.length + 1 + key.length <= MAX_PATH_LENGTH
  );
}

/**
 * Returns `ns` unchanged when it is a valid namespace.
 * @throws AssError INVALID_ARGUMENT saying what is wrong and what is allowed.
 */
export function validateNamespace(ns: string): string {
  const problem = namespaceProblem(ns);
  if (problem !== null) {
    throw new AssError('INVALID_ARGUMENT', `Invalid namespace ${quoteForMessage(ns)}: ${problem}. Allowed: ${NAME_RULES_TEXT}.`);
  }
  return ns;
}

/**
 * Returns `key` unchanged when it is a valid key (exactly one segment).
 * @throws AssError INVALID_ARGUMENT saying what is wrong and what is allowed.
 */
export function validateKey(key: string): string {
  let problem: string | null;
  if (typeof key !== 'string') problem = 'it is not a string';
  else if (key.includes('/')) problem = 'it contains "/" (a key is a single segment; put the rest in the namespace)';
  else if ((problem = segmentProblem(key)) !== null) problem = `it ${problem}`;
  if (problem !== null) {
    throw new AssError('INVALID_ARGUMENT', `Invalid key ${quoteForMessage(key)}: ${problem}. Allowed: ${NAME_RULES_TEXT}.`);
  }
  return key;
}

/**
 * Validates a namespace, a key and their combined length (`namespace/key` ≤ 512).
 * Returns the pair unchanged.
 * @throws AssError INVALID_ARGUMENT
 */
export function validatePath(namespace: string, key: string): { namespace: string; key: string } {
  validateNamespace(namespace);
  validateKey(key);
  if (namespace.length + 1 + key.length > MAX_PATH_LENGTH) {
    throw new AssError(
      'INVALID_ARGUMENT',
      `Invalid name ${quoteForMessage(`${namespace}/${key}`)}: "namespace/key" is longer than ${MAX_PATH_LENGTH} characters. Allowed: ${NAME_RULES_TEXT}.`,
    );
  }
  return { namespace, key };
}
