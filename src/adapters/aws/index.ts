import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssError } from '../../shared/errors.js';
import type { Clock } from '../../shared/types.js';
import type { SecretBackend } from '../backend.js';
import { AwsBackend } from './backend.js';
import { AwsBackendConfigSchema, type AwsBackendConfigInput } from './config.js';
import { withRetries, type AwsSecretsClient } from './retrying-client.js';
import { withoutSdkNodeWarning } from './sdk-node-warning.js';

export { AwsBackendConfigSchema, type AwsBackendConfig, type AwsBackendConfigInput } from './config.js';
export type { AwsSecretsClient } from './retrying-client.js';
export { AwsBackend } from './backend.js';

/** Test seams; production passes none. */
export interface AwsBackendDeps {
  /** Replaces the SDK client (e.g. a fake, or a wrapper of a real one). It is not destroyed on close. */
  client?: AwsSecretsClient;
  /** Backoff sleep between retries (tests pass a no-op). */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  clock?: Clock;
}

/**
 * Builds the AWS Secrets Manager backend from its config block. Makes no request: call
 * `health()` to check connectivity.
 *
 * Region: `config.region`, else `AWS_REGION` / `AWS_DEFAULT_REGION` from `env`.
 * Endpoint: `config.endpoint`, else `AWS_ENDPOINT_URL_SECRETS_MANAGER` / `AWS_ENDPOINT_URL`.
 * Credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) from `env`
 * when both are set, otherwise the SDK's standard chain (shared config/credentials files and
 * `AWS_PROFILE`, SSO, web identity, ECS/EC2 instance roles).
 * Retries: only throttling and transient faults, `max_attempts` in total, jittered backoff.
 * Throws `CONFIG_INVALID` naming the offending field; never echoes a value.
 */
export async function createAwsBackend(
  config: AwsBackendConfigInput,
  env: NodeJS.ProcessEnv = process.env,
  deps: AwsBackendDeps = {},
): Promise<SecretBackend> {
  const parsed = AwsBackendConfigSchema.safeParse(config);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${['backend', ...issue.path].join('.')}: ${issue.message}`);
    throw new AssError('CONFIG_INVALID', `Invalid AWS backend config: ${problems.join('; ')}`, { problems });
  }
  const cfg = parsed.data;
  const region = cfg.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new AssError('CONFIG_INVALID', 'Invalid AWS backend config: backend.region is not set and neither is AWS_REGION.');
  }
  const endpoint = cfg.endpoint ?? env.AWS_ENDPOINT_URL_SECRETS_MANAGER ?? env.AWS_ENDPOINT_URL;
  let owned: SecretsManagerClient | undefined;
  let base = deps.client;
  if (!base) {
    const accessKeyId = env.AWS_ACCESS_KEY_ID;
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
    // The SDK reads its switch from process.env itself (not from `env`): see sdk-node-warning.ts.
    owned = withoutSdkNodeWarning(() => new SecretsManagerClient({
      region,
      ...(endpoint ? { endpoint } : {}),
      ...(accessKeyId && secretAccessKey
        ? { credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } }
        : {}),
      // Our wrapper retries (bounded, jittered, throttling-aware); the SDK's would multiply it.
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 3_000, requestTimeout: 15_000 },
    }));
    base = owned;
  }
  const client = withRetries(base, {
    maxAttempts: cfg.max_attempts,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
  });
  return new AwsBackend(client, {
    singleAttempt: base,
    prefix: cfg.prefix,
    recoveryWindowDays: cfg.recovery_window_days,
    region,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.random ? { random: deps.random } : {}),
    ...(owned ? { onClose: () => owned?.destroy() } : {}),
  });
}
