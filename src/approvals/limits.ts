/**
 * Bounds on what one agent can make the server keep: open approval requests (how many, how many
 * bytes), scopes per token request and characters per scope. Every refusal names the cap and
 * says what to do, so an agent (or its operator) can act on it.
 *
 * The caps themselves are checked by the state store inside its transactions (src/state/rules.ts),
 * so concurrent requests cannot both slip under them; the request bounds here are pure.
 */
import { createHash } from 'node:crypto';
import { AssError } from '../shared/errors.js';

/** Most scopes one `request_token` may name (MCP and REST alike). */
export const MAX_SCOPES_PER_REQUEST = 20;
/**
 * Longest scope text accepted in a request, in characters: `secrets:<action>:` plus the longest
 * `namespace/key` the name grammar allows (512), with room for glob segments.
 */
export const MAX_REQUEST_SCOPE_LENGTH = 600;

export { approvalBytes, checkPendingCap, checkTokenCap, DEFAULT_MAX_ACTIVE_TOKENS, DEFAULT_PENDING_LIMITS, type PendingLimits } from '../state/rules.js';

/**
 * Bounds a token request before its scopes are parsed: at most MAX_SCOPES_PER_REQUEST scopes of
 * at most MAX_REQUEST_SCOPE_LENGTH characters each (the transports' zod schemas say the same;
 * this holds for every caller of the service).
 * @throws AssError INVALID_ARGUMENT.
 */
export function checkScopeBounds(scopes: readonly string[]): void {
  if (scopes.length === 0) throw new AssError('INVALID_ARGUMENT', 'Name at least one scope, e.g. secrets:read:production/gemini/*.');
  if (scopes.length > MAX_SCOPES_PER_REQUEST) {
    throw new AssError('INVALID_ARGUMENT', `A token request may name at most ${MAX_SCOPES_PER_REQUEST} scopes (got ${scopes.length}). Use a glob such as secrets:read:production/**, or several tokens.`);
  }
  const long = scopes.findIndex((s) => s.length > MAX_REQUEST_SCOPE_LENGTH);
  if (long !== -1) {
    throw new AssError('INVALID_ARGUMENT', `Scope ${long + 1} is ${scopes[long]!.length} characters; a scope may have at most ${MAX_REQUEST_SCOPE_LENGTH}.`);
  }
}

/**
 * What the audit log records of a token request's scopes: their count and a digest, not a copy
 * (the approval record and the token carry the scopes themselves). The digest lets an auditor
 * match a record to the approval or token it concerns.
 */
export function scopesDigest(scopes: readonly string[]): string {
  const digest = createHash('sha256').update(JSON.stringify(scopes), 'utf8').digest('hex').slice(0, 16);
  return `${scopes.length} scope${scopes.length === 1 ? '' : 's'}, sha256:${digest}`;
}
