/** Config block of the `ass` backend: another agent-secret-store (or the hosted service) over REST. */
import { z } from 'zod';
import { ReadCacheConfigSchema } from '../cache/config.js';

const Duration = z.string().regex(/^[1-9][0-9]{0,6}(s|m|h|d)$/, 'must be a duration such as 30s, 15m, 1h');

/**
 * `url` is the remote's base URL (`https://secrets.example.com`). The adapter authenticates as
 * its own agent on the remote: the key is read from the environment variable `agent_key_env`,
 * never from the config file and never from the calling agent. `admin_key_env` (optional) lets
 * the human CLI delete on the remote; without it delete refuses.
 */
export const AssBackendConfigSchema = z
  .object({
    type: z.literal('ass'),
    url: z.url({ protocol: /^https?$/ }),
    agent_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).default('ASS_REMOTE_AGENT_KEY'),
    admin_key_env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
    /** One token for these scopes; absent: one token per exact scope an operation needs. */
    scopes: z.array(z.string()).min(1).optional(),
    token_ttl: Duration.default('15m'),
    timeout_ms: z.number().int().min(100).max(120_000).default(10_000),
    /** Retries of 5xx answers and timeouts/network errors (never 4xx), with exponential backoff. */
    retries: z.number().int().min(0).max(10).default(3),
    /** PEM CA bundle to trust for an https remote with a private CA. */
    ca_file: z.string().optional(),
    /** A read cache (issue 14), off when absent: see docs/read-cache.md. */
    cache: ReadCacheConfigSchema.optional(),
  })
  .strict();

export type AssBackendConfig = z.input<typeof AssBackendConfigSchema>;
