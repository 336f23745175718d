/**
 * Per-agent rate limits. Checked before a request reaches a transport or the service, so a
 * refused call reaches no backend.
 *
 * - `RateLimiter`: buckets in this process's memory (stdio's `server.rate_limit`, where every
 *   tools/call counts; the OAuth routes' per-address limits).
 * - `stateRateLimiter`: `http.rate_limit` (every JSON-RPC message of a batch counts), kept by the
 *   state store: in memory with the embedded file store, one shared row per agent with
 *   `state.type: postgres`, so an agent's budget is the same whichever replica it reaches.
 */
import { MemoryRateBuckets, type RateLimits, type RateVerdict } from '../state/rate-limit.js';
import type { StateStore } from '../state/store.js';

export type { RateVerdict } from '../state/rate-limit.js';

export class RateLimiter {
  private readonly buckets: MemoryRateBuckets;
  private readonly limits: RateLimits;

  constructor(
    perMinute: number,
    burst: number,
    now: () => number = () => performance.now(),
    /** At most this many keys are remembered (the per-address limits meet any number of addresses). */
    private readonly maxKeys = 10_000,
  ) {
    this.limits = { perMinute, burst };
    this.buckets = new MemoryRateBuckets(now);
  }

  /** How many keys have a bucket now. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Takes `count` tokens for `agentId` at once (all or none); returns the seconds to wait when
   * there are not enough. A count above `burst` can never be served and is refused.
   */
  take(agentId: string, count = 1): RateVerdict {
    const verdict = this.buckets.take(agentId, count, this.limits);
    this.buckets.bound(this.maxKeys);
    return verdict;
  }
}

/** A limiter whose buckets the state store keeps (shared by every replica on PostgreSQL). */
export interface SharedRateLimiter {
  take(agentId: string, count?: number): Promise<RateVerdict>;
}

/** `scope` keeps one limit's buckets apart from another's in the store (e.g. 'http'). */
export function stateRateLimiter(state: StateStore, scope: string, limits: RateLimits): SharedRateLimiter {
  return { take: (agentId, count = 1) => state.takeRateLimit(`${scope}:${agentId}`, count, limits) };
}
