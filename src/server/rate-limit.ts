/**
 * Per-agent token buckets: `burst` calls at once, refilled at `perMinute` a minute. Checked
 * before a request reaches a transport or the service, so a refused call reaches no backend.
 * Shared by every transport: HTTP (`http.rate_limit`, every JSON-RPC message of a batch counts)
 * and stdio (`server.rate_limit`, every tools/call counts).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Takes `count` tokens for `agentId` at once (all or none); returns the seconds to wait when
   * there are not enough. A count above `burst` can never be served and is refused.
   */
  take(agentId: string, count = 1): { ok: true } | { ok: false; retryAfterS: number } {
    const t = this.now();
    const bucket = this.buckets.get(agentId) ?? { tokens: this.burst, at: t };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((t - bucket.at) / 60_000) * this.perMinute);
    bucket.at = t;
    this.buckets.set(agentId, bucket);
    if (bucket.tokens >= count) {
      bucket.tokens -= count;
      return { ok: true };
    }
    const missing = Math.min(count, this.burst) - bucket.tokens;
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((missing * 60) / this.perMinute)) };
  }
}
