import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { isRetryable, isThrottling } from './errors.js';

/** The narrow seam the adapter needs from the SDK: tests pass fakes or wrappers of it. */
export type AwsSecretsClient = Pick<SecretsManagerClient, 'send'>;

export interface RetryOptions {
  maxAttempts: number;
  /** Base of the exponential backoff in ms (default 100); each wait is full-jitter. */
  baseDelayMs?: number;
  /** Cap of one wait in ms (default 2000). */
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Wraps `send` with bounded retries: throttling and transient faults are retried with
 * full-jitter exponential backoff (AWS Architecture Blog's "full jitter"); AccessDenied and
 * every caller fault are thrown at once. The same command object is re-sent, so a write keeps
 * its ClientRequestToken and AWS applies it at most once. The SDK's own retries are switched
 * off by `createAwsBackend` so the two layers do not multiply.
 */
export function withRetries(client: AwsSecretsClient, options: RetryOptions): AwsSecretsClient {
  const sleep = options.sleep ?? defaultSleep;
  const random = options.random ?? Math.random;
  const base = options.baseDelayMs ?? 100;
  const cap = options.maxDelayMs ?? 2000;
  const send = async (command: unknown): Promise<unknown> => {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await (client.send as (c: unknown) => Promise<unknown>)(command);
      } catch (error) {
        if (attempt >= options.maxAttempts || !isRetryable(error)) throw error;
        // Throttling backs off from a larger base: the account-wide quota needs room.
        const exp = (isThrottling(error) ? base * 2 : base) * 2 ** (attempt - 1);
        await sleep(Math.floor(random() * Math.min(cap, exp)));
      }
    }
  };
  return { send } as AwsSecretsClient;
}
