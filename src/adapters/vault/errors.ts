import { AssError } from '../../shared/errors.js';

/**
 * Maps whatever node-vault or axios threw to an `AssError` whose message we wrote ourselves.
 *
 * Security: Vault's own error texts and axios errors can carry the server address, request
 * ids, paths of other mounts and — in axios' `config.headers` — the `X-Vault-Token`. None of
 * that text is copied: messages are built from the status code alone, and the vendor error is
 * NOT attached as `cause` (a logger that serialises causes would print the token). Only the
 * numeric status and a fixed classification survive, in `details`.
 *
 * Mapping (see docs/vault.md):
 * - 404 → the caller turns it into `null` / `false` / an empty list (`isNotFound`);
 * - 400 "check-and-set parameter did not match" → CONFLICT;
 * - other 400 → INVALID_ARGUMENT;
 * - 401/403 → BACKEND_UNAVAILABLE: the proxy's own Vault identity lacks permission or has
 *   expired. It is the operator's fault, never the agent's, and not a policy decision of ours
 *   (POLICY_DENIED would tell the agent to ask for a grant it cannot get);
 * - 429 → RATE_LIMITED; 5xx, sealed, timeouts, refused connections → BACKEND_UNAVAILABLE.
 */

export interface VaultFailure {
  status: number | null;
  cas: boolean;
  sealed: boolean;
}

/** Reads the status out of node-vault's ApiResponseError without touching its text. */
export function classify(error: unknown): VaultFailure {
  const response = (error as { response?: { statusCode?: unknown; body?: unknown } } | null)?.response;
  const status = typeof response?.statusCode === 'number' ? response.statusCode : null;
  const errors = (response?.body as { errors?: unknown } | undefined)?.errors;
  const texts = Array.isArray(errors) ? errors.filter((e): e is string => typeof e === 'string') : [];
  return {
    status,
    cas: status === 400 && texts.some((t) => /check-and-set parameter did not match/i.test(t)),
    sealed: status === 503 && texts.some((t) => /sealed/i.test(t)),
  };
}

export function isNotFound(error: unknown): boolean {
  return classify(error).status === 404;
}

export function isPermissionDenied(error: unknown): boolean {
  const { status } = classify(error);
  return status === 403 || status === 401;
}

/** `what` is our own description of the operation, e.g. "read 'prod/KEY'". Never vendor text. */
export function toAssError(error: unknown, what: string): AssError {
  if (error instanceof AssError) return error;
  const f = classify(error);
  const details = { backend: 'vault', status: f.status };
  if (f.status === null) {
    return new AssError('BACKEND_UNAVAILABLE', `Vault is unreachable or did not answer in time (${what}). Retry later; an operator should check the Vault server.`, details);
  }
  if (f.cas) {
    return new AssError('CONFLICT', `The secret changed in Vault while writing (${what}): check-and-set did not match. Read it again and retry.`, details);
  }
  if (f.sealed) {
    return new AssError('BACKEND_UNAVAILABLE', `Vault is sealed (${what}). Nothing is served until an operator unseals it.`, details);
  }
  if (f.status === 401 || f.status === 403) {
    return new AssError(
      'BACKEND_UNAVAILABLE',
      `Vault refused the proxy's own Vault identity (${what}): its token lacks permission or has expired. An operator must fix the proxy's Vault policy (docs/vault.md); an agent cannot.`,
      details,
    );
  }
  if (f.status === 400) {
    return new AssError('INVALID_ARGUMENT', `Vault rejected the request as invalid (${what}).`, details);
  }
  if (f.status === 429) {
    return new AssError('RATE_LIMITED', `Vault is rate-limiting the proxy (${what}). Retry later.`, details);
  }
  if (f.status >= 500) {
    return new AssError('BACKEND_UNAVAILABLE', `Vault is unavailable (${what}, status ${f.status}). Retry later.`, details);
  }
  return new AssError('INTERNAL', `Vault answered unexpectedly (${what}, status ${f.status}).`, details);
}
