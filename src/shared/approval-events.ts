/**
 * What a human should hear of, as plain data shared by the approval domain (which emits it in
 * the same transaction as the change) and `src/notify/` (which delivers it). Never a value, a
 * key or a token: names, scopes and the agent's own words only — and those are untrusted.
 */

export const APPROVAL_EVENT_TYPES = ['approval.requested', 'approval.granted', 'approval.denied', 'approval.expired', 'approval.cancelled'] as const;
export type ApprovalEventType = (typeof APPROVAL_EVENT_TYPES)[number];

export interface ApprovalEvent {
  /** Unique per event: receivers de-duplicate on it (a delivery may be retried). */
  id: string;
  type: ApprovalEventType;
  /** When it happened. */
  at: string;
  approval: {
    id: string;
    kind: 'secret_access' | 'token';
    agent_id: string;
    scopes: string[];
    ttl_ms: number;
    max_uses: number | null;
    /** The agent's own words: untrusted text. */
    agent_reason: string | null;
    /** The server's description of what asked (tool, secret, tier). */
    server_reason: string;
    requested_at: string;
    expires_at: string;
    approvals_received: number;
    approvals_required: number;
    /** Set when an approval waits out a delay before it takes effect. */
    effective_at: string | null;
    decided_by: string | null;
  };
}

/** One event waiting to reach one webhook; kept in the state file, under its lock. */
export interface OutboxEntry {
  /** The webhook's stable id (a hash of its url and format, never the url itself). */
  webhook: string;
  event: ApprovalEvent;
  attempts: number;
  /** Not tried again before then (backoff). */
  next_attempt_at: string;
  /** A process delivering it holds it until then; after that another may take it over. */
  lease_until?: string;
  lease_owner?: string;
}

/** Counters shared by every process (so `/metrics` counts a CLI's failed deliveries too). */
export interface OutboxStats {
  delivered: number;
  failed_attempts: number;
  /** Given up after the last attempt. */
  abandoned: number;
  /** Dropped because the outbox was full. */
  dropped: number;
}

/** The part of the state the notifier owns. */
export interface OutboxState {
  outbox?: OutboxEntry[];
  outbox_stats?: OutboxStats;
}
