/**
 * Per-agent token buckets: `burst` calls at once, refilled at `perMinute` a minute. Checked
 * before a request reaches a transport or the service, so a refused call reaches no backend.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes one token for `agentId`; returns the seconds to wait when there is none. */
  take(agentId: string): { ok: true } | { ok: false; retryAfterS: number } {
    const t = this.now();
    const bucket = this.buckets.get(agentId) ?? { tokens: this.burst, at: t };
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((t - bucket.at) / 60_000) * this.perMinute);
    bucket.at = t;
    this.buckets.set(agentId, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil(((1 - bucket.tokens) * 60) / this.perMinute)) };
  }
}
