/**
 * Bounds on what one agent can make the server keep: open approval requests (how many, how many
 * bytes), scopes per token request and characters per scope. Every refusal names the cap and
 * says what to do, so an agent (or its operator) can act on it.
 *
 * Pure functions over a State snapshot and the time passed in; no I/O of their own. The
 * approvals workflow calls `checkPendingCap` inside its transaction, so concurrent requests
 * cannot both slip under the cap.
 */
import { createHash } from 'node:crypto';
import { AssError } from '../shared/errors.js';
import type { State } from './state-store.js';
import type { ApprovalRecord } from './types.js';

/** Most scopes one `request_token` may name (MCP and REST alike). */
export const MAX_SCOPES_PER_REQUEST = 20;
/**
 * Longest scope text accepted in a request, in characters: `secrets:<action>:` plus the longest
 * `namespace/key` the name grammar allows (512), with room for glob segments.
 */
export const MAX_REQUEST_SCOPE_LENGTH = 600;

export interface PendingLimits {
  /** Open (pending) approval requests one agent may have at once. */
  maxPerAgent: number;
  /** Their total size as stored (JSON bytes), per agent. */
  maxBytesPerAgent: number;
}

export const DEFAULT_PENDING_LIMITS: PendingLimits = { maxPerAgent: 10, maxBytesPerAgent: 64 * 1024 };

/** Stored size of one approval record, in bytes (what it costs the state file). */
export function approvalBytes(record: ApprovalRecord): number {
  return Buffer.byteLength(JSON.stringify(record), 'utf8');
}

/**
 * Refuses a new pending request for `candidate.agent_id` when it would exceed either cap.
 * "Pending" is the stored status and not yet expired: a request nobody answered stops counting
 * when it lapses, so an agent is never locked out for longer than `approvals.pending_ttl`.
 * @throws AssError TOO_MANY_PENDING naming the cap.
 */
export function checkPendingCap(state: State, candidate: ApprovalRecord, now: Date, limits: PendingLimits): void {
  const t = now.getTime();
  let count = 0;
  let bytes = 0;
  for (const a of Object.values(state.approvals)) {
    if (a.agent_id !== candidate.agent_id || a.status !== 'pending' || t >= Date.parse(a.expires_at)) continue;
    count += 1;
    bytes += approvalBytes(a);
  }
  const advice = 'Wait for a human to approve or deny the open ones (get_approval_status), or for them to expire, then ask again.';
  if (count + 1 > limits.maxPerAgent) {
    throw new AssError(
      'TOO_MANY_PENDING',
      `This agent already has ${count} approval requests waiting for a human; the cap is ${limits.maxPerAgent} (approvals.max_pending_per_agent). ${advice}`,
      { cap: 'approvals.max_pending_per_agent', limit: limits.maxPerAgent, pending: count },
    );
  }
  const size = approvalBytes(candidate);
  if (bytes + size > limits.maxBytesPerAgent) {
    throw new AssError(
      'TOO_MANY_PENDING',
      `This request would bring this agent's open approval requests to ${bytes + size} bytes; the cap is ${limits.maxBytesPerAgent} bytes (approvals.max_pending_bytes_per_agent). ` +
        `Ask for fewer or shorter scopes. ${advice}`,
      { cap: 'approvals.max_pending_bytes_per_agent', limit: limits.maxBytesPerAgent, pending: count },
    );
  }
}

/** Live tokens one agent may hold by default (`tokens.max_active_per_agent`). */
export const DEFAULT_MAX_ACTIVE_TOKENS = 200;

/**
 * Refuses a new token for `agentId` when it already holds `max` live ones (not expired, not
 * revoked): each is a record in the state until an hour after it expires.
 * @throws AssError TOO_MANY_TOKENS naming the cap.
 */
export function checkTokenCap(state: State, agentId: string, now: Date, max: number): void {
  const t = now.getTime();
  let live = 0;
  for (const token of Object.values(state.tokens)) {
    if (token.agent_id === agentId && !token.revoked_at && Date.parse(token.expires_at) > t) live += 1;
  }
  if (live >= max) {
    throw new AssError(
      'TOO_MANY_TOKENS',
      `This agent already holds ${live} live tokens; the cap is ${max} (tokens.max_active_per_agent). Reuse a token you hold (one token can make many calls), or ask for shorter ttls.`,
      { cap: 'tokens.max_active_per_agent', limit: max, live },
    );
  }
}

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
