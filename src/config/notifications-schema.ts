import { z } from 'zod';

/**
 * `notifications:` — webhooks called when an approval is requested, granted, denied, expired
 * or cancelled. Delivery itself lives in `src/notify/`; this is only the YAML's shape.
 */

const EVENT_NAMES = ['approval.requested', 'approval.granted', 'approval.denied', 'approval.expired', 'approval.cancelled'] as const;
const EnvNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be the name of an environment variable, e.g. ASS_WEBHOOK_SECRET');
const ShortDurationSchema = z.string().regex(/^[1-9][0-9]{0,4}(s|m)$/, 'must be a duration in seconds or minutes, such as 5s or 2m');

export const WebhookSchema = z
  .object({
    url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    format: z.enum(['generic', 'slack']).default('generic'),
    /** Environment variable holding the HMAC-SHA256 key (required for `generic`). */
    secret_env: EnvNameSchema.optional(),
    /** Which events to send; all five when absent. */
    events: z.array(z.enum(EVENT_NAMES)).min(1).optional(),
  })
  .strict()
  .refine((w) => w.format !== 'generic' || w.secret_env !== undefined, {
    message: 'a generic webhook is signed: set secret_env to the environment variable that holds its HMAC key',
    path: ['secret_env'],
  });

export const NotificationsSchema = z
  .object({
    webhooks: z.array(WebhookSchema).max(20).default([]),
    /** Attempts per event and webhook before it is given up (logged and counted). */
    max_attempts: z.number().int().min(1).max(20).default(8),
    /** One delivery attempt's time limit. */
    timeout: ShortDurationSchema.default('5s'),
    /** Most undelivered events kept; beyond it the oldest is dropped (logged and counted). */
    queue_size: z.number().int().min(10).max(100_000).default(1000),
  })
  .strict();

export type NotificationsConfig = z.infer<typeof NotificationsSchema>;
export type WebhookConfig = z.infer<typeof WebhookSchema>;
