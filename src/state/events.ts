import { randomUUID } from 'node:crypto';
import type { ApprovalEvent, ApprovalEventType, OutboxState } from '../shared/approval-events.js';
import type { ApprovalRecord } from './records.js';

/**
 * Approval events: built from a record at the moment of a change, and handed to a sink inside
 * the same state transaction, so an event is stored exactly when its change is (a crash loses
 * neither alone). The sink is the notifier's outbox; without notifications there is none.
 */
export type ApprovalEventSink = (outbox: OutboxState, event: ApprovalEvent) => void;

/** How far back a lapsed request is still announced (older ones predate the notifier). */
export const EXPIRY_ANNOUNCE_WINDOW_MS = 3_600_000;

export function approvalEvent(type: ApprovalEventType, a: ApprovalRecord, now: Date): ApprovalEvent {
  const effective = a.status === 'approved' && a.resolved_at && a.delay_ms > 0 ? new Date(Date.parse(a.resolved_at) + a.delay_ms).toISOString() : null;
  return {
    id: randomUUID(),
    type,
    at: now.toISOString(),
    approval: {
      id: a.id,
      kind: a.kind,
      agent_id: a.agent_id,
      scopes: [...a.scopes],
      ttl_ms: a.ttl_ms,
      max_uses: a.max_uses ?? null,
      agent_reason: a.agent_reason ?? null,
      server_reason: a.reason,
      requested_at: a.created_at,
      expires_at: a.status === 'approved' && a.resolved_at ? new Date(Date.parse(a.resolved_at) + a.delay_ms + a.ttl_ms).toISOString() : a.expires_at,
      approvals_received: a.approvals.length,
      approvals_required: a.approvers_required,
      effective_at: effective,
      decided_by: a.status === 'denied' ? (a.denied_by ?? null) : a.status === 'approved' ? a.approvals.map((x) => x.admin_id).join(', ') : null,
    },
  };
}

/** True for a pending request that lapsed (recently) and was not yet announced. */
export function isLapsedUnannounced(a: ApprovalRecord, now: Date): boolean {
  if (a.status !== 'pending' || a.expiry_announced) return false;
  const t = now.getTime();
  const expires = Date.parse(a.expires_at);
  return t >= expires && t - expires < EXPIRY_ANNOUNCE_WINDOW_MS;
}
