import { z } from 'zod';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';

/**
 * Field schemas shared by the tools. Names are checked for shape here and for grammar by the
 * policy layer, whose messages say exactly what is allowed.
 */
export const NamespaceField = z.string().min(1).max(512).describe('Secret namespace, e.g. "production/gemini"');
export const KeyField = z.string().min(1).max(128).describe('Secret key, e.g. "GEMINI_API_KEY"');
export const SecretTypeField = z.enum(SECRET_TYPES);
export const AccessTierField = z.enum(ACCESS_TIERS);
export const TimestampField = z.string();

export const HumanAuthOutput = z.object({ requires_human_auth: z.literal(true), message: z.string() });

/** The fields set_secret answers and every list_secrets item carries (never the value). */
export const SecretSummaryFields = {
  namespace: z.string(),
  key: z.string(),
  version: z.number().int(),
  secret_type: SecretTypeField,
  access_tier: AccessTierField,
  created_at: TimestampField,
};

/** Optional on get_secret and request_token: kept with an approval request for the human who decides. */
export const REASON_MAX = 500;
export const ReasonField = z
  .string()
  .max(REASON_MAX, { error: `reason is at most ${REASON_MAX} characters; say briefly why the agent needs this` })
  .describe('Optional: why you need this, in a sentence, shown to the human who approves (at most 500 characters)');
