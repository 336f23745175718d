import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Webhook signatures: HMAC-SHA256 over `<timestamp>.<body>` with the webhook's secret, sent as
 *   X-ASS-Timestamp: <unix seconds>
 *   X-ASS-Signature: v1=<lowercase hex>
 * A receiver recomputes it over the raw body, compares in constant time, and rejects a
 * timestamp too far from its own clock (replays). docs/notifications.md shows the snippet.
 */
export const SIGNATURE_HEADER = 'x-ass-signature';
export const TIMESTAMP_HEADER = 'x-ass-timestamp';

export function signPayload(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** True when `signature` is the v1 signature of `body` at `timestamp` and the timestamp is within `toleranceS` of `nowS`. */
export function verifyPayload(secret: string, timestamp: string, body: string, signature: string, nowS: number, toleranceS = 300): boolean {
  const ts = Number(timestamp);
  if (!/^[0-9]{1,12}$/.test(timestamp) || Math.abs(nowS - ts) > toleranceS) return false;
  const expected = Buffer.from(signPayload(secret, ts, body));
  const given = Buffer.from(signature);
  // Security: constant-time comparison (lengths differ only for a malformed header).
  return expected.length === given.length && timingSafeEqual(expected, given);
}
