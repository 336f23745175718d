/**
 * Typed errors with stable codes, in the manner of the AWS SDK's `$fault` / `$retryable`.
 * Every failure that reaches an agent is one of these; the server maps them to an MCP
 * result in exactly one place (`src/server/tool-result.ts`).
 *
 * Security: a message is shown to the agent. It must never contain a secret value, a key,
 * a token, a vendor request id or a backend address. Adapters scrub vendor errors before
 * wrapping them.
 */

export const ERROR_CODES = {
  INVALID_ARGUMENT: { fault: 'caller', retryable: false },
  UNAUTHENTICATED: { fault: 'caller', retryable: false },
  POLICY_DENIED: { fault: 'caller', retryable: false },
  APPROVAL_REQUIRED: { fault: 'caller', retryable: true },
  HUMAN_AUTH_REQUIRED: { fault: 'caller', retryable: false },
  SECRET_NOT_FOUND: { fault: 'caller', retryable: false },
  APPROVAL_NOT_FOUND: { fault: 'caller', retryable: false },
  CONFLICT: { fault: 'caller', retryable: true },
  VALUE_TOO_LARGE: { fault: 'caller', retryable: false },
  RATE_LIMITED: { fault: 'caller', retryable: true },
  /** An agent has as many approval requests open as `approvals.max_pending_per_agent` (or bytes) allows. */
  TOO_MANY_PENDING: { fault: 'caller', retryable: true },
  /** An agent holds as many live tokens as `tokens.max_active_per_agent` allows. */
  TOO_MANY_TOKENS: { fault: 'caller', retryable: true },
  INTEGRITY_ERROR: { fault: 'backend', retryable: false },
  BACKEND_UNAVAILABLE: { fault: 'backend', retryable: true },
  AUDIT_UNAVAILABLE: { fault: 'backend', retryable: true },
  /** The shared state store (PostgreSQL when `state.type: postgres`) cannot be reached. */
  STATE_UNAVAILABLE: { fault: 'backend', retryable: true },
  CONFIG_INVALID: { fault: 'caller', retryable: false },
  INTERNAL: { fault: 'backend', retryable: false },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AssError extends Error {
  readonly code: ErrorCode;
  readonly fault: 'caller' | 'backend';
  readonly retryable: boolean;
  /** Extra fields safe to show the agent (e.g. `approval_id`). Never a value. */
  readonly details: Record<string, unknown>;

  /**
   * `options.fault` overrides the code's class for one error whose code stays what clients match
   * on: a wrong passphrase or key file is an `INTEGRITY_ERROR` (the store's check failed) but the
   * operator's input to fix, so the CLI exits 2 for it, not 1 (see `wrongKeyError`).
   */
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown; fault?: 'caller' | 'backend' }) {
    super(message, options && 'cause' in options ? { cause: options.cause } : undefined);
    this.name = 'AssError';
    this.code = code;
    this.fault = options?.fault ?? ERROR_CODES[code].fault;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = details;
  }
}

/**
 * The key the operator supplied (a passphrase variable, a key file) does not unlock the store:
 * `INTEGRITY_ERROR`, as every failed check is, but classed as the caller's to fix.
 */
export function wrongKeyError(message: string): AssError {
  return new AssError('INTEGRITY_ERROR', message, {}, { fault: 'caller' });
}

export function isAssError(error: unknown): error is AssError {
  return error instanceof AssError;
}
