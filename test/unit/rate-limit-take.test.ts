/**
 * The rate limit's input check (src/state/rate-limit.ts): every HTTP request takes from a
 * bucket, so the common case is checked with plain comparisons and only the rest goes through
 * the zod schema. The fast check must never accept what the schema refuses: checked on edge
 * values and on every combination of them. Breaking it (`key.length > 513`, or dropping the
 * `own.length !== 2` test) makes this file fail.
 */
import { describe, expect, it } from 'vitest';
import { checkTake, plainlyValidTake, TakeSchema } from '../../src/state/rate-limit.js';

const keys: unknown[] = ['http:bot', 'k', '', 'x'.repeat(512), 'x'.repeat(513), 7, null, undefined, ['k']];
const counts: unknown[] = [1, 2, 1000, 0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, 2 ** 53 - 1, '1', null];
class Limits {
  constructor(public perMinute: number, public burst: number) {}
}
const limitsList: unknown[] = [
  { perMinute: 60, burst: 10 },
  { burst: 10, perMinute: 0.5 },
  { perMinute: 0, burst: 10 },
  { perMinute: 60, burst: -1 },
  { perMinute: Number.POSITIVE_INFINITY, burst: 10 },
  { perMinute: Number.NaN, burst: 10 },
  { perMinute: 60 },
  { perMinute: 60, burst: 10, extra: 1 },
  { perMinute: 60, other: 10 },
  { perMinute: '60', burst: 10 },
  Object.create({ perMinute: 60, burst: 10 }),
  new Limits(60, 10),
  Object.assign(Object.create(null), { perMinute: 60, burst: 10 }),
  [60, 10],
  null,
];

describe('rate limit input check', () => {
  it('the fast check accepts only what the schema accepts, on every combination of edge values', () => {
    let fast = 0;
    for (const key of keys) for (const count of counts) for (const limits of limitsList) {
      const plain = plainlyValidTake(key, count, limits);
      const schema = TakeSchema.safeParse({ key, count, limits }).success;
      if (plain) {
        fast++;
        expect({ key, count, limits, schema }).toEqual({ key, count, limits, schema: true });
      }
      // Whatever path decides, checkTake agrees with the schema.
      if (schema) expect(() => checkTake(key as string, count as number, limits as never)).not.toThrow();
      else expect(() => checkTake(key as string, count as number, limits as never)).toThrow(/Invalid rate-limit request/);
    }
    expect(fast).toBeGreaterThan(0);
  });

  it('the request every HTTP call makes is decided by the fast check', () => {
    expect(plainlyValidTake('http:agent-1', 1, { perMinute: 600, burst: 60 })).toBe(true);
    expect(plainlyValidTake('http:agent-1', 99, { perMinute: 100_000_000, burst: 1_000_000 })).toBe(true);
  });
});
