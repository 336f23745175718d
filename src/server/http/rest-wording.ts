/**
 * REST callers are told about REST endpoints, not MCP tools. The service words its errors for
 * agents on MCP ("Use get_approval_status…", "Call request_token…"); this rewrites those next
 * steps, in this one place, for answers that go out over `/v1`. Only the wording changes: the
 * code, status and details stay as they are. The MCP transports never pass through here.
 */
import { AssError, isAssError } from '../../shared/errors.js';

/** [what the MCP wording says, what REST says instead]; `{id}` is the approval id when known. */
const REWRITES: [RegExp, string][] = [
  [/Use get_approval_status to check progress, then retry\./g, 'Poll GET /v1/approvals/{id} until it is approved, then retry.'],
  [/Use get_approval_status to check\./g, 'Poll GET /v1/approvals/{id} to check.'],
  [/Use get_approval_status/g, 'Use GET /v1/approvals/{id}'],
  [/Call request_token/g, 'Ask POST /v1/tokens'],
  [/call request_token/g, 'ask POST /v1/tokens'],
  [/Use list_secrets on '([^']*)'/g, "Use GET /v1/secrets?namespace=$1"],
  [/returned by get_secret or request_token/g, 'returned by GET /v1/secrets/{namespace}/{key} or POST /v1/tokens'],
];

export function restWording(message: string, approvalId?: unknown): string {
  const id = typeof approvalId === 'string' ? approvalId : '<approval_id>';
  return REWRITES.reduce((text, [pattern, replacement]) => text.replace(pattern, replacement.replaceAll('{id}', id)), message);
}

/** The same error, worded for REST (anything that is not an AssError passes unchanged). */
export function restWorded(error: unknown): unknown {
  if (!isAssError(error)) return error;
  const message = restWording(error.message, error.details.approval_id);
  return message === error.message ? error : new AssError(error.code, message, error.details, { cause: error });
}
