/**
 * The one scope parser and matcher, used by config grants, tokens and approvals alike.
 *
 * Grammar: `secrets:<action>:<pattern>`; action ∈ read|write|list|delete|rotate|use|*; pattern is
 * `/`-joined segments, each a name segment, `*` (exactly one segment) or `**` (zero or more
 * segments). Wildcards match whole segments only: `production/gemini/*` never matches
 * `production/gemini2/X`. Besides, `namespaces:read` (the hosted product's scope for listing
 * namespace names): it matches no secret; it allows list_namespaces, whose answer is still
 * filtered by the agent's grants.
 *
 * `read` covers `list` (as in the hosted product: whoever may read a secret may see its name);
 * `list` stays a separate, weaker action for grants that show names without values. `use`
 * (use without reveal: the value goes into a command or an HTTP request, never to the agent)
 * also covers `list`, so the agent can name what it uses; `use` and `read` never cover each other.
 */

import { ACTIONS, type Action } from '../shared/types.js';
import { AssError } from '../shared/errors.js';
import { MAX_NAMESPACE_DEPTH, isValidNamespace, isValidPath, isValidSegment, quoteForMessage } from './names.js';

/** A parsed scope. `text` is canonical (consecutive `**` collapsed). Frozen. */
export interface Scope {
  /** `secrets` for `secrets:<action>:<pattern>`; `namespaces` for `namespaces:read` (no segments). */
  resource: 'secrets' | 'namespaces';
  action: Action | '*';
  segments: string[];
  text: string;
}

/** Human description of the scope grammar, used in error messages. */
export const SCOPE_GRAMMAR_TEXT =
  'expected namespaces:read, or secrets:<action>:<pattern> where action is read|write|list|delete|rotate|use|* and pattern is ' +
  '"/"-joined segments, each a name segment, "*" (exactly one segment) or "**" (zero or more segments); ' +
  'wildcards match whole segments only';

/** Longest path any name can have: namespace segments plus the key. */
export const MAX_PATH_SEGMENTS = MAX_NAMESPACE_DEPTH + 1;
/** Longest scope or pattern text accepted, in characters. */
export const MAX_SCOPE_LENGTH = 2048;

/**
 * Sentinel path token meaning "some segment, to be chosen": never a valid segment, `*` or `**`.
 * Used by the existential questions (scopeCouldMatchIn / scopeCouldMatchUnder).
 */
export const SOME_SEGMENT = '\u0000some';

function scopeError(text: unknown, problem: string): AssError {
  return new AssError('INVALID_ARGUMENT', `Invalid scope ${quoteForMessage(text)}: ${problem}; ${SCOPE_GRAMMAR_TEXT}.`);
}

/**
 * Parses a `/`-joined segment pattern (the part after `secrets:<action>:`, and the namespace
 * patterns of the config). Returns the segments with consecutive `**` collapsed to one.
 * @throws AssError INVALID_ARGUMENT with a message naming the problem (no grammar suffix).
 */
export function parsePathPattern(text: string): string[] {
  if (typeof text !== 'string') throw patternError('it is not a string');
  if (text.length === 0) throw patternError('the pattern is empty');
  // Security: bound the work (and the message size) before looking at the text at all.
  if (text.length > MAX_SCOPE_LENGTH) throw patternError(`the pattern is longer than ${MAX_SCOPE_LENGTH} characters`);
  if (text.startsWith('/')) throw patternError('the pattern starts with "/"');
  if (text.endsWith('/')) throw patternError('the pattern ends with "/"');
  const out: string[] = [];
  let fixed = 0;
  for (const [i, seg] of text.split('/').entries()) {
    if (seg === '**') {
      if (out[out.length - 1] !== '**') out.push(seg);
      continue;
    }
    if (seg === '*') {
      out.push(seg);
    } else if (seg.length === 0) {
      throw patternError(`segment ${i + 1} is empty (double slash)`);
    } else if (seg.includes('*')) {
      throw patternError(
        `segment ${i + 1} ${quoteForMessage(seg)} is a partial wildcard; wildcards match whole segments: use "*" for exactly one segment or "**" for zero or more`,
      );
    } else if (!isValidSegment(seg)) {
      throw patternError(`segment ${i + 1} ${quoteForMessage(seg)} is not a valid name segment (1-128 ASCII characters from A-Z a-z 0-9 _ . @ + = -, starting with A-Z a-z 0-9 or _)`);
    } else {
      out.push(seg);
    }
    fixed++;
  }
  if (fixed > MAX_PATH_SEGMENTS) {
    throw patternError(`the pattern has ${fixed} non-"**" segments but a name has at most ${MAX_PATH_SEGMENTS}, so it could never match`);
  }
  return out;
}

function patternError(problem: string): AssError {
  return new AssError('INVALID_ARGUMENT', problem);
}

/**
 * Parses `secrets:<action>:<pattern>` into a frozen Scope with canonical `text`.
 * Case-sensitive: `secrets:READ:x` is rejected.
 * @throws AssError INVALID_ARGUMENT quoting the scope (cut to 200 chars) and the grammar.
 */
export function parseScope(text: string): Scope {
  if (typeof text !== 'string') throw scopeError(text, 'it is not a string');
  if (text.length > MAX_SCOPE_LENGTH) throw scopeError(text, `it is longer than ${MAX_SCOPE_LENGTH} characters`);
  if (text === NAMESPACES_READ) return NAMESPACES_READ_SCOPE;
  const parts = text.split(':');
  if (parts.length !== 3) {
    throw scopeError(text, `it has ${parts.length} ":"-separated parts, not 3`);
  }
  const [prefix, action, pattern] = parts as [string, string, string];
  if (prefix !== 'secrets') throw scopeError(text, `it must start with "secrets:" (got ${quoteForMessage(prefix)})`);
  if (action !== '*' && !(ACTIONS as readonly string[]).includes(action)) {
    throw scopeError(text, `unknown action ${quoteForMessage(action)} (actions are lower-case)`);
  }
  let segments: string[];
  try {
    segments = parsePathPattern(pattern);
  } catch (error) {
    throw scopeError(text, error instanceof AssError ? error.message : 'the pattern is invalid');
  }
  const scope: Scope = {
    resource: 'secrets',
    action: action as Action | '*',
    segments: Object.freeze(segments) as string[],
    text: `secrets:${action}:${segments.join('/')}`,
  };
  return Object.freeze(scope);
}

/** The scope that lets a token list namespace names (`list_namespaces`), and nothing else. */
export const NAMESPACES_READ = 'namespaces:read';
const NAMESPACES_READ_SCOPE: Scope = Object.freeze({ resource: 'namespaces', action: 'list', segments: Object.freeze([]) as unknown as string[], text: NAMESPACES_READ });

/**
 * Parses every scope, removes duplicates (by canonical text) and sorts them.
 * @throws AssError INVALID_ARGUMENT on the first invalid scope.
 */
export function canonicalScopes(texts: string[]): string[] {
  return [...new Set(texts.map((t) => parseScope(t).text))].sort();
}

/**
 * Segment-wise glob match of `pattern` against `path`. Internal building block shared by
 * scopes and the engine's namespace patterns; exported for them, not for general use.
 *
 * Pattern segments: literal, `*` (one segment), `**` (zero or more). Path tokens: a literal;
 * `*` / `**` meaning "every one segment" / "every run of segments" (used by scopeCovers: a
 * pattern `*` covers `*`, only `**` covers `**`, a literal covers neither); or SOME_SEGMENT,
 * "some one segment we may choose" (a literal or `*` accepts it).
 */
export function matchSegments(pattern: readonly string[], path: readonly string[]): boolean {
  // The common shapes (no `**`, or `**` only at the end: `a/*/KEY`, `production/**`) are
  // matched segment by segment without the table; anything else goes to the table. Both give
  // the same answer for every pattern and path (exhaustively tested in policy-scope.test.ts).
  const P = pattern.length;
  const fixed = P > 0 && pattern[P - 1] === '**' ? P - 1 : P;
  let simple = true;
  for (let i = 0; i < fixed; i++) if (pattern[i] === '**') simple = false;
  if (!simple) return matchSegmentsByTable(pattern, path);
  if (fixed === P ? path.length !== P : path.length < fixed) return false;
  for (let i = 0; i < fixed; i++) {
    const p = pattern[i]!;
    const t = path[i]!;
    // Security: a requested `**` may stand for zero or several segments, so `*` cannot cover it.
    if (p === '*' ? t === '**' : t !== p && t !== SOME_SEGMENT) return false;
  }
  // A trailing `**` takes whatever is left, zero or more tokens.
  return true;
}

/** `matchSegments` by dynamic programming over every pattern and path; exported for the equivalence test. */
export function matchSegmentsByTable(pattern: readonly string[], path: readonly string[]): boolean {
  const P = pattern.length;
  const N = path.length;
  // dp[i][j]: pattern[i..] matches path[j..]. Both lengths are small (bounded by parsing).
  const dp: boolean[][] = Array.from({ length: P + 1 }, () => new Array<boolean>(N + 1).fill(false));
  dp[P]![N] = true;
  for (let i = P - 1; i >= 0; i--) {
    const p = pattern[i]!;
    for (let j = N; j >= 0; j--) {
      const t = j < N ? path[j]! : undefined;
      if (p === '**') {
        dp[i]![j] = dp[i + 1]![j]! || (t !== undefined && dp[i]![j + 1]!);
      } else if (t === undefined) {
        dp[i]![j] = false;
      } else if (p === '*') {
        // Security: a requested `**` may stand for zero or several segments, so `*` cannot cover it.
        dp[i]![j] = t !== '**' && dp[i + 1]![j + 1]!;
      } else {
        dp[i]![j] = (t === p || t === SOME_SEGMENT) && dp[i + 1]![j + 1]!;
      }
    }
  }
  return dp[0]![0]!;
}

/** Actions that also let their holder see names (`list`). */
const SHOWS_NAMES: ReadonlySet<Action | '*'> = new Set(['read', 'use']);

/** Same action, `*`, or `read`/`use` asked to `list`. Never true for a `namespaces:` scope. */
function actionMatches(scope: Scope, action: Action): boolean {
  if (scope.resource !== 'secrets') return false;
  return scope.action === '*' || scope.action === action || (action === 'list' && SHOWS_NAMES.has(scope.action));
}

/**
 * True when `scope` allows `action` on the secret `namespace/key`. Segment-aware: the path is
 * the namespace segments plus the key. Returns false (never throws) for invalid names.
 */
export function scopeMatches(scope: Scope, action: Action, namespace: string, key: string): boolean {
  // Security: a caller that forgot to validate cannot smuggle `..`, `*` or unicode through.
  if (!actionMatches(scope, action) || !isValidPath(namespace, key)) return false;
  return matchSegments(scope.segments, [...namespace.split('/'), key]);
}

/**
 * `scopeMatches` for many scopes against one secret: the names are validated and split once
 * (an invalid name matches no scope, as in `scopeMatches`), and `matches(scope)` tests one.
 */
export function scopeMatcher(action: Action, namespace: string, key: string): (scope: Scope) => boolean {
  if (!isValidPath(namespace, key)) return () => false;
  const path = [...namespace.split('/'), key];
  return (scope) => actionMatches(scope, action) && matchSegments(scope.segments, path);
}

/**
 * True when some key K makes `scopeMatches(scope, action, namespace, K)` true (authorizes
 * list_secrets on a namespace; the items are then filtered per key). Ignores the 512-character
 * total limit, so it may say true where no key fits: safe, because items are filtered per key.
 * False for an invalid namespace.
 */
export function scopeCouldMatchIn(scope: Scope, action: Action, namespace: string): boolean {
  if (!actionMatches(scope, action) || !isValidNamespace(namespace)) return false;
  return matchSegments(scope.segments, [...namespace.split('/'), SOME_SEGMENT]);
}

/**
 * True when some path strictly inside `namespace` (its segments plus one or more segments,
 * up to the 9-segment maximum) matches (used by list_namespaces). Same length caveat as
 * scopeCouldMatchIn. False for an invalid namespace.
 */
export function scopeCouldMatchUnder(scope: Scope, action: Action, namespace: string): boolean {
  if (!actionMatches(scope, action) || !isValidNamespace(namespace)) return false;
  const base = namespace.split('/');
  for (let extra = 1; base.length + extra <= MAX_PATH_SEGMENTS; extra++) {
    if (matchSegments(scope.segments, [...base, ...new Array<string>(extra).fill(SOME_SEGMENT)])) return true;
  }
  return false;
}

/**
 * True only when every (action, path) that `requested` matches is also matched by `granted`.
 * Sound, not complete: it may answer false for a covered scope (a human then approves), never
 * true for an uncovered one. Action `*` is covered only by `*`; in the pattern, `**` in granted
 * absorbs anything, `*` in requested is covered by `*` or `**`, `**` in requested only by `**`.
 */
export function scopeCovers(granted: Scope, requested: Scope): boolean {
  // `namespaces:read` shows only names the grants already let the agent list (the answer is
  // filtered by them), so any scope that may list or read something covers it.
  if (requested.resource === 'namespaces') return granted.resource === 'namespaces' || granted.action === '*' || granted.action === 'list' || SHOWS_NAMES.has(granted.action);
  if (granted.resource !== 'secrets') return false;
  if (granted.action !== '*' && granted.action !== requested.action && !(requested.action === 'list' && SHOWS_NAMES.has(granted.action))) return false;
  return matchSegments(granted.segments, requested.segments);
}

/** True for `namespaces:read`: a token with it may call list_namespaces. */
export function allowsNamespaceListing(scope: Scope): boolean {
  return scope.resource === 'namespaces';
}
