import { z } from 'zod';
import { ACCESS_TIERS } from '../../shared/types.js';

const TTL_PATTERN = /^([1-9][0-9]{0,6})(ms|s|m|h)$/;
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `500ms`, `30s`, `5m`, `1h` → milliseconds. */
export function cacheTtlMs(text: string): number {
  const m = TTL_PATTERN.exec(text);
  if (!m) throw new Error(`not a cache ttl: ${text.slice(0, 20)}`);
  return m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

const MAX_TTL_MS = 3_600_000;

/**
 * `cache:` inside a remote backend's block (vault, aws, ass): a read cache, off when absent.
 * Held in memory only. `tiers` are the access tiers whose secrets may be cached; `critical` is
 * never cached unless listed here. An out-of-band change (another tool writing the backend) is
 * seen within `ttl`; writes through this server are seen at once.
 */
export const ReadCacheConfigSchema = z
  .object({
    ttl: z
      .string()
      .regex(TTL_PATTERN, 'must be a duration such as 500ms, 30s, 5m or 1h')
      .refine((t) => !TTL_PATTERN.test(t) || cacheTtlMs(t) <= MAX_TTL_MS, 'must be at most 1h (an out-of-band change is seen only after it)'),
    /** Secrets held at most; the least recently read go first. */
    max_entries: z.number().int().min(1).max(1_000_000).default(1000),
    /** Approximate bytes held at most (values, metadata and names). */
    max_bytes: z.number().int().min(1024).max(1024 ** 3).default(16 * 1024 * 1024),
    tiers: z.array(z.enum(ACCESS_TIERS)).min(1).default(['standard', 'sensitive']),
  })
  .strict();

export type ReadCacheConfig = z.infer<typeof ReadCacheConfigSchema>;
