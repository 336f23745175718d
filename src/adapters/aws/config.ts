import { z } from 'zod';
import { ReadCacheConfigSchema } from '../cache/config.js';

/** One path segment of an AWS secret name (AWS allows `[A-Za-z0-9/_+=.@-]`; `/` separates). */
const PREFIX_PATTERN = /^[A-Za-z0-9_+=.@-]+(\/[A-Za-z0-9_+=.@-]+)*$/;

/**
 * The `backend:` block for AWS Secrets Manager. Validated at start-up, apart from connecting
 * (`createAwsBackend` connects). Unknown keys are errors.
 *
 * - `region`: falls back to `AWS_REGION` / `AWS_DEFAULT_REGION` when omitted.
 * - `endpoint`: a custom endpoint (VPC endpoint, LocalStack, moto); falls back to
 *   `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`.
 * - `prefix`: every secret is named `<prefix>/<namespace>/<key>`; the IAM policy in
 *   docs/aws.md is scoped to it.
 * - `recovery_window_days`: the window a human delete leaves before AWS purges (7–30).
 * - `max_attempts`: total attempts per AWS call, retries only on throttling/transient faults.
 */
export const AwsBackendConfigSchema = z
  .object({
    type: z.literal('aws'),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z0-9]+)+-\d+$/, 'region must look like an AWS region, e.g. eu-west-1')
      .optional(),
    endpoint: z.url({ protocol: /^https?$/ }).optional(),
    prefix: z
      .string()
      .min(1)
      .max(200)
      .regex(PREFIX_PATTERN, 'prefix must be segments of [A-Za-z0-9_+=.@-] separated by single slashes')
      .default('agent-secret-store'),
    recovery_window_days: z.number().int().min(7).max(30).default(30),
    max_attempts: z.number().int().min(1).max(10).default(4),
    /** A read cache (issue 14), off when absent: see docs/read-cache.md. */
    cache: ReadCacheConfigSchema.optional(),
  })
  .strict();

/** The parsed config (defaults applied). */
export type AwsBackendConfig = z.output<typeof AwsBackendConfigSchema>;
/** What a YAML author may write (defaults optional). */
export type AwsBackendConfigInput = z.input<typeof AwsBackendConfigSchema>;
