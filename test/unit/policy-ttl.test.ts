import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AssError } from '../../src/shared/errors.js';
import { formatTtl, parseTtl } from '../../src/policy/index.js';

const S = 1_000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

describe('parseTtl grammar', () => {
  it.each<[string, number | 'rejected']>([
    ['30s', 30 * S],
    ['1s', S],
    ['15m', 15 * M],
    ['1h', H],
    ['24h', 24 * H],
    ['7d', 7 * D],
    ['9999999d', 9_999_999 * D],
    ['90s', 90 * S],
    ['0s', 'rejected'],
    ['00s', 'rejected'],
    ['01h', 'rejected'],
    ['10000000s', 'rejected'],
    ['1', 'rejected'],
    ['h', 'rejected'],
    ['', 'rejected'],
    ['1H', 'rejected'],
    ['1w', 'rejected'],
    ['1ms', 'rejected'],
    ['1.5h', 'rejected'],
    ['-1h', 'rejected'],
    ['+1h', 'rejected'],
    [' 1h', 'rejected'],
    ['1h ', 'rejected'],
    ['1h\n', 'rejected'],
    ['1 h', 'rejected'],
    ['1e3s', 'rejected'],
    ['0x10s', 'rejected'],
    ['Infinityd', 'rejected'],
    ['NaNs', 'rejected'],
    ['１h', 'rejected'], // fullwidth digit
    ['1h30m', 'rejected'],
  ])('%j → %s', (text, expected) => {
    if (expected === 'rejected') {
      let error: unknown;
      try {
        parseTtl(text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AssError);
      expect((error as AssError).code).toBe('INVALID_ARGUMENT');
      expect((error as AssError).message).toContain('30s, 15m, 1h, 24h, 7d');
    } else {
      expect(parseTtl(text)).toBe(expected);
    }
  });
});

describe('formatTtl', () => {
  it.each<[number, string]>([
    [30 * S, '30s'],
    [90 * S, '90s'],
    [60 * S, '1m'],
    [15 * M, '15m'],
    [H, '1h'],
    [90 * M, '90m'],
    [24 * H, '1d'],
    [36 * H, '36h'],
    [7 * D, '7d'],
  ])('%d ms → %s', (ms, text) => {
    expect(formatTtl(ms)).toBe(text);
  });

  it.each([0, -1000, 1500, 1, Number.NaN, Number.POSITIVE_INFINITY, 0.5])('rejects %d ms', (ms) => {
    expect(() => formatTtl(ms)).toThrow(AssError);
  });

  it('is the inverse of parseTtl by value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9_999_999 }), fc.constantFrom('s', 'm', 'h', 'd'), (n, unit) => {
        const ms = parseTtl(`${n}${unit}`);
        expect(parseTtl(formatTtl(ms))).toBe(ms);
      }),
      { numRuns: 2_000 },
    );
  });
});
