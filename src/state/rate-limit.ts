/**
 * Rate-limit buckets: `burst` calls at once, refilled at `perMinute` a minute (a token bucket).
 * The arithmetic lives here once; the state store keeps the buckets — in this process's memory
 * for the embedded file store (as before: each process counts its own), in one PostgreSQL row
 * per key for the PostgreSQL store (every replica counts against the same bucket).
 */
import { z } from 'zod';
import { AssError } from '../shared/errors.js';

export interface RateLimits {
  perMinute: number;
  burst: number;
}

export type RateVerdict = { ok: true } | { ok: false; retryAfterS: number };

export const TakeSchema = z
  .object({
    key: z.string().min(1).max(512),
    count: z.number().int().min(1),
    limits: z.object({ perMinute: z.number().positive().finite(), burst: z.number().positive().finite() }).strict(),
  })
  .strict();

/**
 * What TakeSchema accepts, checked without building a zod parse (≈1% of a streamable HTTP
 * request's CPU, bench/RESULTS.md): every HTTP request takes from a bucket. It may only say yes
 * to what the schema accepts; anything it does not pass is decided, and worded, by the schema.
 */
export function plainlyValidTake(key: unknown, count: unknown, limits: unknown): boolean {
  if (typeof key !== 'string' || key.length < 1 || key.length > 512) return false;
  if (!Number.isSafeInteger(count) || (count as number) < 1) return false;
  if (typeof limits !== 'object' || limits === null || Object.getPrototypeOf(limits) !== Object.prototype) return false;
  const own = Object.keys(limits);
  if (own.length !== 2 || !own.includes('perMinute') || !own.includes('burst')) return false;
  const { perMinute, burst } = limits as Record<string, unknown>;
  return typeof perMinute === 'number' && typeof burst === 'number' && perMinute > 0 && burst > 0 && Number.isFinite(perMinute) && Number.isFinite(burst);
}

/** @throws AssError INVALID_ARGUMENT for a key, count or limits that no bucket can hold. */
export function checkTake(key: string, count: number, limits: RateLimits): void {
  if (plainlyValidTake(key, count, limits)) return;
  const parsed = TakeSchema.safeParse({ key, count, limits });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new AssError('INVALID_ARGUMENT', `Invalid rate-limit request (${issue?.path.join('.') || 'input'}: ${issue?.message ?? 'invalid'}).`);
  }
}

/** Seconds until `count` calls fit, for a bucket left holding `tokens` (a count above burst waits for a full bucket, and is refused then too). */
export function retryAfterS(tokens: number, count: number, limits: RateLimits): number {
  const missing = Math.min(count, limits.burst) - tokens;
  return Math.max(1, Math.ceil((missing * 60) / limits.perMinute));
}

/** Buckets in this process's memory, keyed by whatever the caller counts (an agent, an address). */
export class MemoryRateBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number; fullAt: number }>();

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes `count` tokens from `key`'s bucket at once (all or none). */
  take(key: string, count: number, limits: RateLimits): RateVerdict {
    const t = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: limits.burst, at: t, fullAt: t };
    bucket.tokens = Math.min(limits.burst, bucket.tokens + ((t - bucket.at) / 60_000) * limits.perMinute);
    bucket.at = t;
    // Re-inserted: the map's order is least recently used first, for `bound`.
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    const ok = bucket.tokens >= count;
    if (ok) bucket.tokens -= count;
    bucket.fullAt = t + ((limits.burst - bucket.tokens) * 60_000) / limits.perMinute;
    return ok ? { ok: true } : { ok: false, retryAfterS: retryAfterS(bucket.tokens, count, limits) };
  }

  /** Drops the buckets that have refilled (a full bucket is the same as none); returns how many. */
  prune(): number {
    const t = this.now();
    let gone = 0;
    for (const [key, bucket] of this.buckets) {
      if (bucket.fullAt <= t) {
        this.buckets.delete(key);
        gone++;
      }
    }
    return gone;
  }

  /**
   * Keeps at most `max` buckets (R-6: one bucket per client address would otherwise grow for
   * ever): refilled ones go first, then the least recently used; down to 90% of `max`, so the sweep is rare.
   */
  bound(max: number): void {
    if (this.buckets.size <= max) return;
    this.prune();
    const keep = Math.floor(max * 0.9);
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= keep) break;
      this.buckets.delete(key);
    }
  }

  get size(): number {
    return this.buckets.size;
  }
}
