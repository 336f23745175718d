/**
 * The rules every state-store implementation applies inside its transactions: what an approval
 * looks like at a moment, quorum and denial, the per-agent caps, the denial cooldown, what a
 * revocation ends and what retention drops. Pure functions of records and the time passed in,
 * so the file store and the PostgreSQL store cannot drift apart.
 */
import { AssError } from '../shared/errors.js';
import type { ApprovalRecord, ApprovalStatus, TokenRecord } from './records.js';

/** What an agent or a human sees of an approval at a given moment. */
export interface ApprovalView {
  approval_id: string;
  status: ApprovalStatus;
  /** When it was approved or denied; null while pending or once expired unresolved. */
  resolved_at: string | null;
  /** Pending: when the request lapses. Approved: when the grant ends. */
  expires_at: string;
  /** Set when an approval rule delays the grant: it takes effect then. */
  effective_at?: string;
  approvals_received: number;
  approvals_required: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Status at `now`: stored state plus time (pending lapses into expired; a delay keeps it pending). */
export function viewApproval(a: ApprovalRecord, now: Date): ApprovalView {
  const t = now.getTime();
  const base = { approval_id: a.id, approvals_received: a.approvals.length, approvals_required: a.approvers_required };
  if (a.status === 'denied') return { ...base, status: 'denied', resolved_at: a.resolved_at ?? null, expires_at: a.expires_at };
  if (a.status === 'approved') {
    const effective = Date.parse(a.resolved_at!) + a.delay_ms;
    const ends = effective + a.ttl_ms;
    const extra = a.delay_ms > 0 ? { effective_at: iso(effective) } : {};
    // Security: during the delay a human may still cancel; the agent keeps seeing "pending".
    if (t < effective) return { ...base, ...extra, status: 'pending', resolved_at: null, expires_at: iso(ends) };
    return { ...base, ...extra, status: 'approved', resolved_at: a.resolved_at!, expires_at: iso(ends) };
  }
  if (t >= Date.parse(a.expires_at)) return { ...base, status: 'expired', resolved_at: null, expires_at: a.expires_at };
  return { ...base, status: 'pending', resolved_at: null, expires_at: a.expires_at };
}

/** True while an approved grant is in force: after any delay and before its ttl runs out. */
export function isGrantActive(a: ApprovalRecord, now: Date): boolean {
  if (a.status !== 'approved' || !a.resolved_at) return false;
  const effective = Date.parse(a.resolved_at) + a.delay_ms;
  const t = now.getTime();
  return t >= effective && t < effective + a.ttl_ms;
}

export const sameScopes = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);

/** The agent's pending request with exactly this binding (a retrying agent gets it back). */
export function findReusable(agentApprovals: readonly ApprovalRecord[], candidate: ApprovalRecord, now: Date): ApprovalRecord | undefined {
  return agentApprovals.find(
    (a) =>
      a.agent_id === candidate.agent_id && a.kind === candidate.kind && a.ttl_ms === candidate.ttl_ms && a.max_uses === candidate.max_uses &&
      sameScopes(a.scopes, candidate.scopes) && viewApproval(a, now).status === 'pending',
  );
}

/**
 * The latest human denial of the same scopes for this agent within the cooldown, if any. Same
 * scopes whatever the ttl, max_uses or kind: changing those must not get round a no. A
 * revocation does not count (the revoked key cannot ask at all).
 */
export function findCooldownDenial(agentApprovals: readonly ApprovalRecord[], input: { agentId: string; scopes: readonly string[] }, now: Date, cooldownMs: number): ApprovalRecord | undefined {
  if (cooldownMs <= 0) return undefined;
  const t = now.getTime();
  let latest: ApprovalRecord | undefined;
  for (const a of agentApprovals) {
    if (a.agent_id !== input.agentId || a.status !== 'denied' || a.revoked || !a.resolved_at) continue;
    if (!sameScopes(a.scopes, input.scopes)) continue;
    if (t - Date.parse(a.resolved_at) >= cooldownMs) continue;
    if (!latest || a.resolved_at > latest.resolved_at!) latest = a;
  }
  return latest;
}

export interface PendingLimits {
  /** Open (pending) approval requests one agent may have at once. */
  maxPerAgent: number;
  /** Their total size as stored (JSON bytes), per agent. */
  maxBytesPerAgent: number;
}

export const DEFAULT_PENDING_LIMITS: PendingLimits = { maxPerAgent: 10, maxBytesPerAgent: 64 * 1024 };

/** Stored size of one approval record, in bytes (what it costs the state). */
export function approvalBytes(record: ApprovalRecord): number {
  return Buffer.byteLength(JSON.stringify(record), 'utf8');
}

/**
 * Refuses a new pending request for `candidate.agent_id` when it would exceed either cap.
 * "Pending" is the stored status and not yet expired: a request nobody answered stops counting
 * when it lapses, so an agent is never locked out for longer than `approvals.pending_ttl`.
 * @throws AssError TOO_MANY_PENDING naming the cap.
 */
export function checkPendingCap(agentApprovals: readonly ApprovalRecord[], candidate: ApprovalRecord, now: Date, limits: PendingLimits): void {
  const t = now.getTime();
  let count = 0;
  let bytes = 0;
  for (const a of agentApprovals) {
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
 * Refuses a new token for `agentId` when it already holds `max` live ones (not expired, not revoked).
 * @throws AssError TOO_MANY_TOKENS naming the cap.
 */
export function checkTokenCap(agentTokens: readonly TokenRecord[], agentId: string, now: Date, max: number): void {
  const t = now.getTime();
  let live = 0;
  for (const token of agentTokens) {
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
 * Records one admin's approval on `approval` (changed in place). It is granted once
 * `approvers_required` distinct admins approved; an admin approving twice is refused.
 * @throws AssError CONFLICT when it is not pending any more or the admin already approved.
 */
export function applyApprove(approval: ApprovalRecord, adminId: string, now: Date): { granted: boolean } {
  const view = viewApproval(approval, now);
  const id = approval.id;
  if (approval.status !== 'pending') {
    throw new AssError('CONFLICT', `Approval ${id} is already ${approval.status}${view.status === 'pending' ? ' (its delay has not run out yet)' : ''}; nothing changed.`);
  }
  if (view.status === 'expired') throw new AssError('CONFLICT', `Approval ${id} expired at ${approval.expires_at} before it was approved; the agent must ask again.`);
  if (approval.approvals.some((a) => a.admin_id === adminId)) {
    throw new AssError('CONFLICT', `Admin '${adminId}' already approved ${id}; it needs ${approval.approvers_required} different approvers (${approval.approvals.length} so far).`);
  }
  approval.approvals.push({ admin_id: adminId, at: now.toISOString() });
  const granted = approval.approvals.length >= approval.approvers_required;
  if (granted) {
    approval.status = 'approved';
    approval.resolved_at = now.toISOString();
  }
  return { granted };
}

/**
 * Denies a pending request, or cancels an approved one whose delay has not run out (changed in place).
 * @throws AssError CONFLICT otherwise.
 */
export function applyDeny(approval: ApprovalRecord, adminId: string, now: Date): { cancelled: boolean } {
  const view = viewApproval(approval, now);
  if (view.status !== 'pending') throw new AssError('CONFLICT', `Approval ${approval.id} is ${view.status}; only a pending request (or one still in its delay) can be denied.`);
  // A deny of an approved request still in its delay is a cancellation, shown as such to humans.
  if (approval.status === 'approved') approval.cancelled = true;
  approval.status = 'denied';
  approval.denied_by = adminId;
  approval.resolved_at = now.toISOString();
  return { cancelled: approval.cancelled === true };
}

/** Ends one of a revoked agent's tokens; false when it was revoked already. */
export function revokeToken(token: TokenRecord, at: string): boolean {
  if (token.revoked_at) return false;
  token.revoked_at = at;
  return true;
}

/** Ends one of a revoked agent's approvals (pending or approved); false when it was denied already. */
export function revokeApproval(approval: ApprovalRecord, adminId: string, at: string): boolean {
  if (approval.status === 'denied') return false;
  approval.status = 'denied';
  approval.denied_by = `${adminId} (agent revoked)`;
  approval.revoked = true;
  approval.resolved_at = at;
  return true;
}

/** How long human decisions (approved, denied) are kept after they stop mattering. */
export const APPROVAL_RETENTION_MS = 7 * 24 * 3_600_000;
/**
 * How long a request nobody answered, or a token approval whose grant ended unredeemed, is kept
 * (so `get_approval_status` can still answer `expired`): nothing a human decided, and what an
 * agent alone can create, so it goes soon.
 */
export const LAPSED_RETENTION_MS = 3_600_000;
/** Expired tokens go at the next prune: an expired token fails on its `exp`, so its record decides nothing. */
export const TOKEN_RETENTION_MS = 0;

/**
 * Whether retention drops this approval now: approvals a human decided, 7 days after they
 * settled (denied, or grant ended); requests that lapsed unanswered and token approvals never
 * redeemed, an hour after. Every one of these decisions is in the audit log.
 */
export function approvalIsStale(a: ApprovalRecord, now: Date): boolean {
  const lapsed = a.status === 'pending' || (a.status === 'approved' && a.kind === 'token' && !a.redeemed_at);
  const settledAt =
    a.status === 'denied' ? Date.parse(a.resolved_at ?? a.expires_at)
    : a.status === 'approved' ? Date.parse(a.resolved_at!) + a.delay_ms + a.ttl_ms
    : Date.parse(a.expires_at);
  return now.getTime() - settledAt > (lapsed ? LAPSED_RETENTION_MS : APPROVAL_RETENTION_MS);
}

/** Whether retention drops this token now (it expired: its `exp` refuses it anyway). */
export function tokenIsStale(token: TokenRecord, now: Date): boolean {
  return now.getTime() - Date.parse(token.expires_at) > TOKEN_RETENTION_MS;
}
