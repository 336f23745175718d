import type { Clock } from '../shared/types.js';
import { limitKey } from '../server/http/client-address.js';

/**
 * Slows repeated wrong admin keys per client address (an IPv6 address counts by its /64, and
 * behind `dashboard.trusted_proxies` the address is the forwarded client's, not the proxy's: H8-2). The first `free` failures in a window
 * cost nothing; after that each attempt must wait 2^(n - free) seconds (at most `maxDelayS`)
 * since the last failure. A success clears the address. Bounded: at most `maxTracked`
 * addresses are remembered (the oldest are forgotten first).
 */
export class SignInThrottle {
  private readonly failures = new Map<string, { count: number; last: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly free = 5,
    private readonly maxDelayS = 300,
    private readonly windowMs = 15 * 60_000,
    private readonly maxTracked = 10_000,
  ) {}

  /** Seconds this address must still wait before its next attempt (0: go ahead). */
  waitSeconds(client: string): number {
    const address = limitKey(client);
    const entry = this.failures.get(address);
    if (!entry) return 0;
    const now = this.clock().getTime();
    if (now - entry.last >= this.windowMs) {
      this.failures.delete(address);
      return 0;
    }
    if (entry.count < this.free) return 0;
    const delayMs = Math.min(this.maxDelayS, 2 ** (entry.count - this.free)) * 1000;
    return Math.max(0, Math.ceil((entry.last + delayMs - now) / 1000));
  }

  /** Records a wrong key; returns how many in a row this address has now. */
  fail(client: string): number {
    const address = limitKey(client);
    const now = this.clock().getTime();
    const entry = this.failures.get(address);
    const count = entry && now - entry.last < this.windowMs ? entry.count + 1 : 1;
    this.failures.delete(address);
    this.failures.set(address, { count, last: now });
    if (this.failures.size > this.maxTracked) this.failures.delete(this.failures.keys().next().value!);
    return count;
  }

  succeed(client: string): void {
    this.failures.delete(limitKey(client));
  }
}
