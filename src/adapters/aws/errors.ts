import { randomUUID } from 'node:crypto';
import { AssError } from '../../shared/errors.js';

/** What we read from an SDK error; never its message (it carries ARNs and request ids). */
export interface VendorFault {
  name: string;
  status: number | undefined;
}

export function vendorFault(error: unknown): VendorFault {
  if (error && typeof error === 'object') {
    const e = error as { name?: unknown; code?: unknown; $metadata?: { httpStatusCode?: unknown } };
    const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : typeof e.code === 'string' ? e.code : 'Error';
    const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
    return { name, status };
  }
  return { name: 'Error', status: undefined };
}

const THROTTLING = new Set([
  'ThrottlingException',
  'Throttling',
  'TooManyRequestsException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
]);
const TRANSIENT = new Set([
  'InternalServiceError',
  'InternalFailure',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
]);
const ACCESS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'ExpiredTokenException',
  'ExpiredToken',
  'CredentialsProviderError',
]);

/** Vendor errors with a meaning of their own, whatever their HTTP status. */
const KNOWN = new Set([...THROTTLING, ...TRANSIENT, 'ResourceNotFoundException', 'DecryptionFailure', 'EncryptionFailure']);

export function isNotFound(error: unknown): boolean {
  return vendorFault(error).name === 'ResourceNotFoundException';
}

/** Throttling and transient server/network faults are retried; nothing else is. */
export function isRetryable(error: unknown): boolean {
  const { name, status } = vendorFault(error);
  if (ACCESS.has(name)) return false;
  if (THROTTLING.has(name) || TRANSIENT.has(name)) return true;
  return status !== undefined && status >= 500;
}

export function isThrottling(error: unknown): boolean {
  return THROTTLING.has(vendorFault(error).name);
}

/**
 * Maps an SDK error to ours. Security: the vendor message is dropped, never copied: AWS
 * messages name ARNs (with the account id), request ids, endpoints and sometimes the
 * access key id. Only the vendor error name and HTTP status go into `details`.
 */
export function mapAwsError(error: unknown, what: string): AssError {
  if (error instanceof AssError) return error;
  const fault = vendorFault(error);
  const details = { backend: 'aws', aws_error: fault.name, http_status: fault.status };
  if (fault.name === 'ResourceNotFoundException') {
    return new AssError('SECRET_NOT_FOUND', `${what}: no such secret in AWS Secrets Manager.`, details);
  }
  if (THROTTLING.has(fault.name)) {
    return new AssError(
      'BACKEND_UNAVAILABLE',
      `${what}: AWS Secrets Manager is throttling requests and the retries ran out. Try again in a few seconds.`,
      details,
    );
  }
  // No identity at all (nothing in the credential chain) is not a refusal by AWS: say what to set.
  if (fault.name === 'CredentialsProviderError') {
    return new AssError(
      'INTERNAL',
      `${what}: the proxy found no AWS credentials (CredentialsProviderError). Give it an identity through the standard AWS chain: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, web identity, or an ECS/EC2 role (see docs/aws.md); retrying will not help.`,
      details,
    );
  }
  // A 401/403 whose body the SDK could not read (an emulator's or a proxy's XML/HTML refusal
  // where AWS sends JSON) is a refusal all the same, not an "unexpected" error.
  if (ACCESS.has(fault.name) || (!KNOWN.has(fault.name) && (fault.status === 401 || fault.status === 403))) {
    // Not retryable: more attempts with the same identity cannot succeed.
    return new AssError(
      'INTERNAL',
      `${what}: AWS refused the proxy's own credentials (${ACCESS.has(fault.name) ? fault.name : `HTTP ${fault.status}`}). An operator must grant the proxy's IAM identity this permission (see docs/aws.md); retrying will not help.`,
      details,
    );
  }
  if (TRANSIENT.has(fault.name) || (fault.status !== undefined && fault.status >= 500)) {
    return new AssError('BACKEND_UNAVAILABLE', `${what}: AWS Secrets Manager is unavailable right now. Try again later.`, details);
  }
  if (fault.name === 'DecryptionFailure' || fault.name === 'EncryptionFailure') {
    return new AssError('INTERNAL', `${what}: AWS could not use the secret's KMS key (${fault.name}). An operator must check the key policy.`, details);
  }
  if (['InvalidParameterException', 'InvalidRequestException', 'ValidationException', 'LimitExceededException', 'MalformedPolicyDocumentException'].includes(fault.name)) {
    return new AssError('INVALID_ARGUMENT', `${what}: AWS Secrets Manager rejected the request (${fault.name}).`, details);
  }
  if (fault.name === 'ResourceExistsException') {
    return new AssError('CONFLICT', `${what}: the secret was written concurrently. Read it again, then retry.`, details);
  }
  const correlationId = randomUUID();
  return new AssError('INTERNAL', `${what}: unexpected AWS error (${fault.name}); correlation id ${correlationId}.`, {
    ...details,
    correlation_id: correlationId,
  });
}
