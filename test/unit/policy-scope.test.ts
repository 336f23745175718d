import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AssError } from '../../src/shared/errors.js';
import type { Action } from '../../src/shared/types.js';
import type { Scope } from '../../src/policy/index.js';
import {
  canonicalScopes,
  isValidSegment,
  parseScope,
  scopeCouldMatchIn,
  scopeCouldMatchUnder,
  scopeCovers,
  scopeMatches,
  validateKey,
  validateNamespace,
  validatePath,
} from '../../src/policy/index.js';
import { matchSegments, matchSegmentsByTable, SOME_SEGMENT } from '../../src/policy/scope.js';

const G = 'secrets:read:production/gemini/*';
const long = (n: number): string => 'a'.repeat(n);
const deep = (n: number): string => Array.from({ length: n }, (_, i) => `s${i}`).join('/');

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof AssError ? error.code : 'NOT_AN_ASS_ERROR';
  }
  return undefined;
}

type Expect = 'scope rejected' | 'name rejected' | 'matches' | 'no match';
// [scope, action, namespace, key, expected]
const table: Array<[string, Action, string, string, Expect]> = [
  // --- segment-aware matching of production/gemini/*
  [G, 'read', 'production/gemini', 'API_KEY', 'matches'],
  [G, 'read', 'production/gemini', 'GEMINI_API_KEY', 'matches'],
  [G, 'read', 'production/gemini2', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini.bak', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini-old', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini@2', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini.', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemin', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini/a', 'X', 'no match'],
  [G, 'read', 'productio/gemini', 'API_KEY', 'no match'],
  [G, 'read', 'production', 'gemini', 'no match'],
  [G, 'read', 'gemini', 'X', 'no match'],
  [G, 'read', 'staging/gemini', 'API_KEY', 'no match'],
  [G, 'read', 'Production/gemini', 'API_KEY', 'no match'],
  [G, 'read', 'production/GEMINI', 'API_KEY', 'no match'],
  [G, 'write', 'production/gemini', 'API_KEY', 'no match'],
  // `read` covers `list` (the hosted product's rule: who may read a secret may see its name).
  [G, 'list', 'production/gemini', 'API_KEY', 'matches'],
  ['secrets:list:production/gemini/*', 'read', 'production/gemini', 'API_KEY', 'no match'],
  ['secrets:list:production/gemini/*', 'write', 'production/gemini', 'API_KEY', 'no match'],
  ['secrets:write:production/gemini/*', 'list', 'production/gemini', 'API_KEY', 'no match'],
  ['namespaces:read', 'list', 'production/gemini', 'API_KEY', 'no match'],
  // `use` (use without reveal) is its own action: it never covers read and read never covers it;
  // it shows names (list) like read; `*` covers it.
  ['secrets:use:production/gemini/*', 'use', 'production/gemini', 'API_KEY', 'matches'],
  ['secrets:use:production/gemini/*', 'read', 'production/gemini', 'API_KEY', 'no match'],
  ['secrets:use:production/gemini/*', 'write', 'production/gemini', 'API_KEY', 'no match'],
  ['secrets:use:production/gemini/*', 'list', 'production/gemini', 'API_KEY', 'matches'],
  [G, 'use', 'production/gemini', 'API_KEY', 'no match'],
  ['secrets:*:production/gemini/*', 'use', 'production/gemini', 'API_KEY', 'matches'],
  ['secrets:USE:production/gemini/*', 'use', 'production/gemini', 'API_KEY', 'scope rejected'],
  ['namespaces:read', 'read', 'production/gemini', 'API_KEY', 'no match'],
  [G, 'read', 'production/gemini', long(128), 'matches'],
  // --- names that must be rejected (and never match even if a caller skips validation)
  [G, 'read', 'production/gemini/..', 'x', 'name rejected'],
  [G, 'read', 'production/gemini/../x', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini', '..', 'name rejected'],
  [G, 'read', 'production/gemini', '.', 'name rejected'],
  [G, 'read', 'production/gemini/.', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini', '.hidden', 'name rejected'],
  [G, 'read', 'production/gemini', '%2e%2e', 'name rejected'],
  [G, 'read', 'production%2Fgemini', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini/', 'KEY', 'name rejected'],
  [G, 'read', '/production/gemini', 'KEY', 'name rejected'],
  [G, 'read', 'production//gemini', 'KEY', 'name rejected'],
  [G, 'read', 'production/g\u0435mini', 'KEY', 'name rejected'], // Cyrillic е
  [G, 'read', 'production\uFF0Fgemini', 'KEY', 'name rejected'], // fullwidth ／
  [G, 'read', 'production/gemini\u0000', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini', 'KEY\u0000', 'name rejected'],
  [G, 'read', 'production/gemini', 'KEY\n', 'name rejected'],
  [G, 'read', 'production/gemini', 'KEY\r\n', 'name rejected'],
  [G, 'read', 'production/gemini', 'KEY\t', 'name rejected'],
  [G, 'read', 'production/gemini', 'API KEY', 'name rejected'],
  [G, 'read', 'production/gemini ', 'KEY', 'name rejected'],
  [G, 'read', 'production\\gemini', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini', 'API\u200BKEY', 'name rejected'], // zero-width space
  [G, 'read', 'production/gemini', '', 'name rejected'],
  [G, 'read', '', 'KEY', 'name rejected'],
  [G, 'read', 'production/gemini', 'a/b', 'name rejected'],
  [G, 'read', 'production/gemini', '*', 'name rejected'],
  [G, 'read', 'production/gemini', '**', 'name rejected'],
  [G, 'read', 'production/gemini', '-rf', 'name rejected'],
  [G, 'read', 'production/gemini', long(129), 'name rejected'],
  [G, 'read', 'production/gemini', 'K%00', 'name rejected'],
  ['secrets:read:**', 'read', deep(9), 'KEY', 'name rejected'],
  ['secrets:read:**', 'read', `${long(128)}/${long(128)}/${long(128)}/${long(128)}`, 'KEY', 'name rejected'],
  // --- scopes that must be rejected
  ['secrets:read:production/gemini*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini*/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/*gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gem*ni/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/***', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:READ:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:fetch:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['Secrets:read:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secret:read:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets::production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['read:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production:gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/*:', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  [' secrets:read:production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/* ', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:/production/gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production//*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/../gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/./gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/%2e%2e/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production%2Fgemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/g\u0435mini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production\uFF0Fgemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini\u0000/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/*\n', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production\\gemini\\*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  [`secrets:read:production/${long(129)}/*`, 'read', 'production/gemini', 'KEY', 'scope rejected'],
  [`secrets:read:${deep(10)}`, 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/?', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/gemini/[ab]', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/{gemini,stripe}/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  ['secrets:read:production/ gemini/*', 'read', 'production/gemini', 'KEY', 'scope rejected'],
  // --- other patterns
  ['secrets:read:production/**', 'read', 'production/gemini/a', 'X', 'matches'],
  ['secrets:read:production/**', 'read', 'production', 'X', 'matches'],
  ['secrets:read:production/**', 'read', 'production2/gemini', 'X', 'no match'],
  ['secrets:read:production/**', 'read', 'productionX', 'X', 'no match'],
  ['secrets:read:production/**/KEY', 'read', 'production', 'KEY', 'matches'],
  ['secrets:read:production/**/KEY', 'read', 'production/a/b', 'KEY', 'matches'],
  ['secrets:read:production/**/KEY', 'read', 'production/a', 'KEY2', 'no match'],
  ['secrets:read:production/**/**/KEY', 'read', 'production', 'KEY', 'matches'],
  ['secrets:read:**/gemini/*', 'read', 'a/b/gemini', 'X', 'matches'],
  ['secrets:read:**/gemini/*', 'read', 'gemini', 'X', 'matches'],
  ['secrets:read:**/gemini/*', 'read', 'a/gemini2', 'X', 'no match'],
  ['secrets:read:*/*', 'read', 'a', 'b', 'matches'],
  ['secrets:read:*/*', 'read', 'a/b', 'c', 'no match'],
  ['secrets:read:*', 'read', 'a', 'b', 'no match'],
  ['secrets:read:**', 'read', deep(8), long(128), 'matches'],
  ['secrets:*:production/gemini/*', 'read', 'production/gemini', 'KEY', 'matches'],
  ['secrets:*:production/gemini/*', 'delete', 'production/gemini', 'KEY', 'matches'],
  ['secrets:write:production/gemini/*', 'read', 'production/gemini', 'KEY', 'no match'],
  ['secrets:read:production/stripe/STRIPE_SECRET_KEY', 'read', 'production/stripe', 'STRIPE_SECRET_KEY', 'matches'],
  ['secrets:read:production/stripe/STRIPE_SECRET_KEY', 'read', 'production/stripe', 'STRIPE_SECRET_KEY2', 'no match'],
  ['secrets:read:production/stripe/STRIPE_SECRET_KEY', 'read', 'production/stripe', 'stripe_secret_key', 'no match'],
  // --- the one non-`secrets` scope is exactly `namespaces:read`
  ['namespaces:write', 'read', 'a', 'K', 'scope rejected'],
  ['namespaces:read:production/*', 'read', 'a', 'K', 'scope rejected'],
  ['Namespaces:read', 'read', 'a', 'K', 'scope rejected'],
  ['namespaces:*', 'read', 'a', 'K', 'scope rejected'],
];

describe('scope grammar and segment-aware matching (adversarial table)', () => {
  it.each(table)('%j %s %j / %j → %s', (scopeText, action, namespace, key, expected) => {
    if (expected === 'scope rejected') {
      let error: unknown;
      try {
        parseScope(scopeText);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AssError);
      expect((error as AssError).code).toBe('INVALID_ARGUMENT');
      expect((error as AssError).message).toContain('secrets:<action>:<pattern>');
      return;
    }
    const scope = parseScope(scopeText);
    if (expected === 'name rejected') {
      expect(code(() => validatePath(namespace, key))).toBe('INVALID_ARGUMENT');
      expect(scopeMatches(scope, action, namespace, key)).toBe(false);
      return;
    }
    expect(validatePath(namespace, key)).toEqual({ namespace, key });
    expect(scopeMatches(scope, action, namespace, key)).toBe(expected === 'matches');
  });
});

describe('parseScope / canonicalScopes', () => {
  it('says wildcards match whole segments for a partial glob', () => {
    expect(() => parseScope('secrets:read:production/gemini*')).toThrow(/wildcards match whole segments/);
  });

  it('quotes the bad scope cut to 200 characters', () => {
    const text = `secrets:read:${'x'.repeat(300)}*`;
    const message = (() => {
      try {
        parseScope(text);
      } catch (e) {
        return (e as Error).message;
      }
      return '';
    })();
    expect(message).toContain('x'.repeat(180));
    expect(message).not.toContain('x'.repeat(201));
  });

  it('parses into a frozen canonical scope', () => {
    const s = parseScope('secrets:read:production/**/**/gemini/*');
    expect(s).toEqual({ resource: 'secrets', action: 'read', segments: ['production', '**', 'gemini', '*'], text: 'secrets:read:production/**/gemini/*' });
    expect(Object.isFrozen(s)).toBe(true);
    expect(Object.isFrozen(s.segments)).toBe(true);
  });

  it('dedupes and sorts', () => {
    expect(canonicalScopes(['secrets:write:b/*', 'secrets:read:a/**/**', 'secrets:read:a/**', 'secrets:write:b/*'])).toEqual([
      'secrets:read:a/**',
      'secrets:write:b/*',
    ]);
    expect(() => canonicalScopes(['secrets:read:a/*', 'nope'])).toThrow(AssError);
  });

  it('isValidSegment, validateNamespace and validateKey', () => {
    expect(isValidSegment('a.b@c+d=e-f_g')).toBe(true);
    expect(isValidSegment('.a')).toBe(false);
    expect(validateNamespace(deep(8))).toBe(deep(8));
    expect(code(() => validateNamespace(deep(9)))).toBe('INVALID_ARGUMENT');
    expect(() => validateKey('a/b')).toThrow(/single segment/);
    expect(() => validateNamespace('a//b')).toThrow(/double slash/);
  });
});

describe('scopeCouldMatchIn / scopeCouldMatchUnder', () => {
  it.each<[string, Action, string, boolean, boolean]>([
    // scope, action, namespace, couldMatchIn, couldMatchUnder
    [G, 'read', 'production/gemini', true, true],
    [G, 'read', 'production/gemini2', false, false],
    [G, 'read', 'production', false, true],
    [G, 'read', 'prod', false, false],
    [G, 'write', 'production/gemini', false, false],
    [G, 'read', 'production/gemini/a', false, false],
    ['secrets:read:production/stripe/KEY', 'read', 'production/stripe', true, true],
    ['secrets:read:production/**', 'read', 'production', true, true],
    ['secrets:read:production/**', 'read', 'production/a/b', true, true],
    ['secrets:*:production/*/*', 'list', 'production', false, true],
    ['secrets:read:**', 'read', deep(8), true, true],
    ['secrets:read:*/*', 'read', 'a/b', false, false],
    [G, 'read', 'production/gemini/', false, false],
    [G, 'read', 'production/gem\u0435ni', false, false],
  ])('%s %s in %j → in:%s under:%s', (scopeText, action, ns, inside, under) => {
    const scope = parseScope(scopeText);
    expect(scopeCouldMatchIn(scope, action, ns)).toBe(inside);
    expect(scopeCouldMatchUnder(scope, action, ns)).toBe(under);
  });
});

describe('scopeCovers', () => {
  it.each<[string, string, boolean]>([
    ['secrets:read:production/**', 'secrets:read:production/gemini/*', true],
    ['secrets:read:production/gemini/*', 'secrets:read:production/gemini/KEY', true],
    ['secrets:read:production/gemini/*', 'secrets:read:production/gemini/*', true],
    ['secrets:read:production/gemini/KEY', 'secrets:read:production/gemini/*', false],
    ['secrets:read:production/*/*', 'secrets:read:production/**', false],
    ['secrets:read:production/*', 'secrets:read:production/**', false],
    ['secrets:read:**', 'secrets:read:production/**', true],
    ['secrets:read:production/gemini/*', 'secrets:read:production/gemini2/KEY', false],
    ['secrets:read:production/gemini/*', 'secrets:write:production/gemini/KEY', false],
    ['secrets:*:production/**', 'secrets:write:production/gemini/KEY', true],
    ['secrets:read:**', 'secrets:*:production/gemini/KEY', false],
    ['secrets:*:**', 'secrets:*:**', true],
    ['secrets:read:production/**/KEY', 'secrets:read:production/a/b/KEY', true],
    ['secrets:read:production/**/KEY', 'secrets:read:production/a/**', false],
    // read covers list; list never covers read
    ['secrets:read:production/**', 'secrets:list:production/gemini/*', true],
    ['secrets:list:production/**', 'secrets:read:production/gemini/*', false],
    ['secrets:write:production/**', 'secrets:list:production/gemini/*', false],
    // use: its own action; covers list; read and use never cover each other; * covers use
    ['secrets:use:production/**', 'secrets:use:production/gemini/*', true],
    ['secrets:use:production/**', 'secrets:list:production/gemini/*', true],
    ['secrets:use:production/**', 'secrets:read:production/gemini/KEY', false],
    ['secrets:read:production/**', 'secrets:use:production/gemini/KEY', false],
    ['secrets:*:production/**', 'secrets:use:production/gemini/KEY', true],
    ['secrets:use:a/*', 'namespaces:read', true],
    // namespaces:read: covered by itself or any scope that may list or read; covers no secret
    ['namespaces:read', 'namespaces:read', true],
    ['secrets:read:production/gemini/KEY', 'namespaces:read', true],
    ['secrets:list:a/*', 'namespaces:read', true],
    ['secrets:*:a/*', 'namespaces:read', true],
    ['secrets:write:a/*', 'namespaces:read', false],
    ['namespaces:read', 'secrets:list:production/gemini/*', false],
    ['namespaces:read', 'secrets:read:**', false],
  ])('%s covers %s → %s', (g, r, expected) => {
    expect(scopeCovers(parseScope(g), parseScope(r))).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------- properties

const hostileUnit = fc.oneof(
  fc.constantFrom('.', '..', '/', '%', '%2e', '%2F', '\u0000', '\n', ' ', '\\', '*', '**', '\u0435', '\uFF0F', '\u200B', 'ｅ'),
  fc.constantFrom('production', 'gemini', 'gemini2', 'a', 'KEY', '_', '-', '@', '+', '='),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const hostileName = fc.string({ unit: hostileUnit, maxLength: 8 });
const namespaceArb = fc.oneof(
  hostileName,
  fc.constant('production/gemini'),
  hostileName.map((s) => `production/gemini${s}`),
  hostileName.map((s) => `production/${s}`),
);
const keyArb = fc.oneof(hostileName, fc.constantFrom('API_KEY', 'KEY', 'gemini'));

describe('properties', () => {
  it('a name is rejected, or when accepted and production/gemini/* matches it, its namespace is exactly production/gemini', () => {
    const scope = parseScope(G);
    let matched = 0;
    fc.assert(
      fc.property(namespaceArb, keyArb, (ns, key) => {
        let accepted = true;
        try {
          validateNamespace(ns);
          validateKey(key);
        } catch (error) {
          accepted = false;
          expect(error).toBeInstanceOf(AssError);
          expect((error as AssError).code).toBe('INVALID_ARGUMENT');
        }
        const matches = scopeMatches(scope, 'read', ns, key);
        if (!accepted) expect(matches).toBe(false);
        if (matches) {
          matched++;
          expect(ns).toBe('production/gemini');
          expect(isValidSegment(key)).toBe(true);
        }
      }),
      { numRuns: 10_000 },
    );
    expect(matched).toBeGreaterThan(100);
  });

  const seg = fc.constantFrom('a', 'b', 'c', '*', '**');
  const patternArb = fc.array(seg, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
  const scopeArb = fc
    .tuple(fc.constantFrom('read', 'write', 'use', '*'), patternArb)
    .map(([a, p]) => parseScope(`secrets:${a}:${p}`));
  const pathArb = fc.tuple(
    fc.constantFrom<Action>('read', 'write', 'use', 'list'),
    fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 4 }).map((s) => s.join('/')),
    fc.constantFrom('a', 'b', 'c'),
  );

  /** A concrete path that `scope` matches, built from a random tape (or null if too short/long). */
  function instantiate(scope: Scope, tape: number[]): [Action, string, string] | null {
    let i = 0;
    const next = (): number => tape[i++ % tape.length]!;
    const letters = ['a', 'b', 'c', 'z'];
    const out: string[] = [];
    for (const s of scope.segments) {
      if (s === '*') out.push(letters[next() % 4]!);
      else if (s === '**') for (let n = next() % 3; n > 0; n--) out.push(letters[next() % 4]!);
      else out.push(s);
    }
    if (out.length < 2 || out.length > 9) return null;
    const action: Action = scope.action === '*' ? (['read', 'write', 'use'] as const)[next() % 3]! : scope.action;
    return [action, out.slice(0, -1).join('/'), out[out.length - 1]!];
  }

  it('scopeCovers(a, b) ⇒ every path b matches, a matches (never a false positive)', () => {
    let covers = 0;
    let exercised = 0;
    fc.assert(
      fc.property(
        scopeArb,
        scopeArb,
        fc.array(pathArb, { minLength: 10, maxLength: 10 }),
        fc.array(fc.nat(11), { minLength: 40, maxLength: 40 }),
        (a, b, randomPaths, tape) => {
          if (!scopeCovers(a, b)) return;
          covers++;
          const fromB = [0, 7, 13, 21].map((k) => instantiate(b, [...tape.slice(k), ...tape.slice(0, k)]));
          for (const path of [...randomPaths, ...fromB]) {
            if (path === null) continue;
            const [action, ns, key] = path;
            if (scopeMatches(b, action, ns, key)) {
              exercised++;
              expect(scopeMatches(a, action, ns, key)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 10_000 },
    );
    expect(covers).toBeGreaterThan(300);
    expect(exercised).toBeGreaterThan(1_000);
  });

  it('scopeCouldMatchIn and scopeCouldMatchUnder agree with brute force', () => {
    const letters = ['a', 'b', 'c', 'z'];
    const tails = (n: number): string[][] =>
      n === 0 ? [[]] : tails(n - 1).flatMap((t) => letters.map((l) => [...t, l]));
    fc.assert(
      fc.property(scopeArb, pathArb, (scope, [action, ns]) => {
        const inside = letters.some((k) => scopeMatches(scope, action, ns, k));
        expect(scopeCouldMatchIn(scope, action, ns)).toBe(inside);
        // A minimal match below ns needs at most as many extra segments as the pattern's fixed ones (≤ 5).
        let under = false;
        for (let n = 1; n <= 5 && !under; n++) {
          under = tails(n).some((t) => scopeMatches(scope, action, [ns, ...t.slice(0, -1)].join('/'), t[t.length - 1]!));
        }
        expect(scopeCouldMatchUnder(scope, action, ns)).toBe(under);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('matchSegments: the segment-by-segment path and the table agree', () => {
  it('on every pattern and path of up to 4 tokens (literals, *, **, and the some-segment sentinel)', () => {
    const tuples = (alphabet: string[], max: number): string[][] => {
      const out: string[][] = [[]];
      let level: string[][] = [[]];
      for (let n = 1; n <= max; n++) {
        level = level.flatMap((t) => alphabet.map((a) => [...t, a]));
        out.push(...level);
      }
      return out;
    };
    const patterns = tuples(['a', 'b', '*', '**'], 4);
    const paths = tuples(['a', 'b', '*', '**', SOME_SEGMENT], 4);
    let compared = 0;
    const disagreements: string[] = [];
    for (const pattern of patterns) {
      for (const path of paths) {
        compared++;
        if (matchSegments(pattern, path) !== matchSegmentsByTable(pattern, path)) disagreements.push(`${pattern.join('/')} vs ${path.join('/')}`);
      }
    }
    expect(compared).toBe(341 * 781);
    expect(disagreements.slice(0, 10)).toEqual([]);
  });
});
