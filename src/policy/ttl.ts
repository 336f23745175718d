/**
 * Durations written in config and tool inputs: `30s`, `15m`, `1h`, `24h`, `7d`.
 */

import { AssError } from '../shared/errors.js';
import { quoteForMessage } from './names.js';

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
type Unit = keyof typeof UNIT_MS;

// Security: anchored, ASCII digits only, at most 7 digits, so the product stays a safe integer
// (9,999,999 days ≈ 8.6e14 ms) and no `Infinity`, `1e9`, `-1` or `0x10` slips through.
const TTL_RE = /^([1-9][0-9]{0,6})(s|m|h|d)$/;

/** Human description of the TTL grammar, used in error messages. */
export const TTL_RULES_TEXT =
  'a TTL is a positive whole number (1-9999999, no leading zero) followed by s, m, h or d, e.g. 30s, 15m, 1h, 24h, 7d';

/**
 * Parses a TTL such as `30s`, `15m`, `1h`, `24h`, `7d` into milliseconds (always > 0).
 * @throws AssError INVALID_ARGUMENT listing examples.
 */
export function parseTtl(text: string): number {
  const m = typeof text === 'string' ? TTL_RE.exec(text) : null;
  if (m === null) {
    throw new AssError('INVALID_ARGUMENT', `Invalid TTL ${quoteForMessage(text)}: ${TTL_RULES_TEXT}.`);
  }
  return Number(m[1]) * UNIT_MS[m[2] as Unit];
}

/**
 * Formats milliseconds in the largest unit that divides them exactly (`3600000` → `1h`,
 * `90000` → `90s`). Inverse of parseTtl by value: `parseTtl(formatTtl(parseTtl(t))) === parseTtl(t)`.
 * @throws AssError INVALID_ARGUMENT when `ms` is not a positive whole number of seconds.
 */
export function formatTtl(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0 || ms % UNIT_MS.s !== 0) {
    throw new AssError('INVALID_ARGUMENT', `Cannot format ${String(ms)} ms as a TTL: it must be a positive whole number of seconds.`);
  }
  for (const unit of ['d', 'h', 'm'] as const) {
    if (ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return `${ms / UNIT_MS.s}s`;
}
