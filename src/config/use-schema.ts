import { z } from 'zod';
import { ARG_PATTERN_FLAGS, isDeniedEnvName } from '../shared/env-names.js';

/**
 * `use:` — use without reveal (docs/use.md). Each part exists only when configured: without
 * `use.commands` there is no `run_with_secrets` tool, without `use.http` no `http_request` tool
 * (and no `POST /v1/use/http`). The `run` command with an agent key needs `use.commands` (the
 * same allow-list); a human's `run` and `inject` need neither.
 */

const Duration = z.string().regex(/^[1-9][0-9]{0,6}(s|m|h)$/, 'must be a duration such as 30s, 5m or 1h');

/** A full-match regular expression, checked to compile. */
const Pattern = z
  .string()
  .min(1)
  .max(500)
  .refine((p) => {
    try {
      // The same flags as matching (command-allowlist.ts), so a pattern that validates also runs.
      new RegExp(`^(?:${p})$`, ARG_PATTERN_FLAGS);
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid regular expression (matched against the whole argument)');

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be an environment variable name')
  .refine((n) => !isDeniedEnvName(n), 'may never be set from a secret (it changes what the command runs; see docs/use.md)');

/** `namespace/key` pattern with whole-segment globs (parsed with the policy grammar in settings.ts). */
const SecretPattern = z.string().min(1).max(512);

/** One allowed command: the executable by absolute path, and what its arguments may be. */
export const UseCommandSchema = z
  .object({
    executable: z.string().regex(/^\//, 'must be an absolute path (no PATH lookup, no shell)'),
    /** Every argument must fully match one of these patterns (any order); absent or empty: no arguments. */
    args: z.array(Pattern).max(100).default([]),
    /** Argument i must match pattern i, same count: an option cannot be paired with another's value. */
    positional: z.boolean().default(false),
    /** Working directories (absolute) the command may run in; absent: only the server's own. */
    cwd: z.array(z.string().regex(/^\//, 'must be an absolute path')).max(100).optional(),
    /**
     * The variables this command may be given, each bound to the secrets it may carry
     * (`namespace/key` patterns, whole-segment globs). Absent: no secret variables at all.
     */
    env: z.record(EnvName, z.union([SecretPattern, z.array(SecretPattern).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]))).optional(),
    /**
     * Plain (non-secret) variables an agent's `run` may set, each with the full-match patterns of
     * its allowed values. Absent: none. (Variables that redirect a command — hosts, proxies, CA
     * bundles — are better fixed in the command's arguments than allowed here.)
     */
    env_plain: z.record(EnvName, z.union([Pattern, z.array(Pattern).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]))).optional(),
  })
  .strict();

export const UseCommandsSchema = z
  .object({
    allow: z.array(UseCommandSchema).min(1, 'list at least one command, or remove use.commands to turn run_with_secrets off'),
    /** Longest run; the agent may ask for less. */
    timeout: Duration.default('60s'),
    /** Bytes of the output kept (stdout and stderr merged; the rest is cut, `truncated: true`). */
    output_cap: z.number().int().min(1024).max(16 * 1024 * 1024).default(65536),
  })
  .strict();

/** Where secrets under a namespace pattern may be sent. */
export const UseHttpRuleSchema = z
  .object({
    /** A namespace pattern with whole-segment globs, e.g. `production/stripe` or `production/**`. */
    namespaces: z.string().min(1),
    /** Host names, `host:port`, or `*.example.com` (one or more labels). Compared case-insensitively. */
    allowed_hosts: z.array(z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$/, 'must be a host, host:port or *.domain')).min(1),
    schemes: z.array(z.enum(['https', 'http'])).default(['https']),
    methods: z.array(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'])).default(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
  })
  .strict();

export const UseHttpSchema = z
  .object({
    rules: z.array(UseHttpRuleSchema).min(1, 'list at least one rule, or remove use.http to turn http_request off'),
    timeout: Duration.default('30s'),
    /** Bytes of response body kept (the rest is cut, `truncated: true`). */
    response_cap: z.number().int().min(1024).max(16 * 1024 * 1024).default(262144),
  })
  .strict();

export const UseConfigSchema = z.object({ commands: UseCommandsSchema.optional(), http: UseHttpSchema.optional() }).strict();

export type UseConfig = z.infer<typeof UseConfigSchema>;
export type UseCommandsConfig = z.infer<typeof UseCommandsSchema>;
export type UseHttpConfig = z.infer<typeof UseHttpSchema>;
