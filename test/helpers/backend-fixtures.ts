import { isAssError, type AssError } from '../../src/shared/errors.js';
import type { SecretWrite } from '../../src/shared/types.js';

/** A SecretWrite with test defaults (an api_key at the sensitive tier, no metadata). */
export function write(namespace: string, key: string, value: string, extra: Partial<SecretWrite> = {}): SecretWrite {
  return { namespace, key, value, secret_type: 'api_key', access_tier: 'sensitive', metadata: {}, ...extra };
}

/** The AssError a promise rejects with; anything else (or no rejection) fails the test. */
export async function caught(promise: Promise<unknown>): Promise<AssError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isAssError(error)) throw new Error(`expected an AssError, got ${String(error)}`);
  return error;
}
