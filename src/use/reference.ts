/**
 * `ass://<namespace>/<key>[#<version>]` references: the last segment is the key, the rest the
 * namespace (validated by the one name grammar in src/policy/). A version pins the reference:
 * backends serve the newest version, so a pinned reference is refused once the secret moved on.
 */
import { AssError } from '../shared/errors.js';
import { quoteForMessage, validatePath } from '../policy/index.js';

export interface SecretReference {
  namespace: string;
  key: string;
  /** Present when the reference pins a version. */
  version?: number;
  /** Canonical text, `ass://ns/key` or `ass://ns/key#3`. */
  text: string;
}

export const REFERENCE_PREFIX = 'ass://';
/** Longest reference accepted, in characters (names are at most 512). */
const MAX_REFERENCE_LENGTH = 600;

export const REFERENCE_GRAMMAR = 'a reference is ass://<namespace>/<key>, optionally #<version> (e.g. ass://production/stripe/STRIPE_SECRET_KEY#3)';

/** @throws AssError INVALID_ARGUMENT naming the problem and the grammar. */
export function parseReference(text: string): SecretReference {
  if (typeof text !== 'string' || !text.startsWith(REFERENCE_PREFIX)) {
    throw new AssError('INVALID_ARGUMENT', `${quoteForMessage(text)} is not a secret reference; ${REFERENCE_GRAMMAR}.`);
  }
  if (text.length > MAX_REFERENCE_LENGTH) throw new AssError('INVALID_ARGUMENT', `The reference is longer than ${MAX_REFERENCE_LENGTH} characters; ${REFERENCE_GRAMMAR}.`);
  const body = text.slice(REFERENCE_PREFIX.length);
  const hash = body.indexOf('#');
  const path = hash < 0 ? body : body.slice(0, hash);
  const versionText = hash < 0 ? undefined : body.slice(hash + 1);
  if (versionText !== undefined && !/^[1-9][0-9]{0,8}$/.test(versionText)) {
    throw new AssError('INVALID_ARGUMENT', `${quoteForMessage(text)}: the version after "#" must be a whole number ≥ 1; ${REFERENCE_GRAMMAR}.`);
  }
  const slash = path.lastIndexOf('/');
  if (slash <= 0) throw new AssError('INVALID_ARGUMENT', `${quoteForMessage(text)} has no namespace; ${REFERENCE_GRAMMAR}.`);
  let names: { namespace: string; key: string };
  try {
    names = validatePath(path.slice(0, slash), path.slice(slash + 1));
  } catch (error) {
    throw new AssError('INVALID_ARGUMENT', `${quoteForMessage(text)}: ${error instanceof AssError ? error.message : 'invalid name'}`);
  }
  const version = versionText === undefined ? undefined : Number(versionText);
  return { ...names, ...(version !== undefined ? { version } : {}), text: `${REFERENCE_PREFIX}${names.namespace}/${names.key}${version !== undefined ? `#${version}` : ''}` };
}

/** `{{ ass://ns/key }}` placeholders (spaces optional), as in templates, headers, bodies and URLs. */
export const PLACEHOLDER = /\{\{\s*(ass:\/\/[^\s{}]+)\s*\}\}/g;

/** Every reference in `text`'s placeholders, parsed (in order, duplicates kept once). */
export function placeholderReferences(text: string): SecretReference[] {
  const seen = new Map<string, SecretReference>();
  for (const m of text.matchAll(PLACEHOLDER)) {
    const ref = parseReference(m[1]!);
    seen.set(ref.text, ref);
  }
  return [...seen.values()];
}

/** Replaces each placeholder by `valueOf(reference)`. */
export function renderPlaceholders(text: string, valueOf: (ref: SecretReference) => string): string {
  return text.replace(PLACEHOLDER, (_m, ref: string) => valueOf(parseReference(ref)));
}
