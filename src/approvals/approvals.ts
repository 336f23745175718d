import { randomUUID } from 'node:crypto';
import { AssError } from '../shared/errors.js';
import type { Clock } from '../shared/types.js';
import { checkPendingCap, DEFAULT_PENDING_LIMITS, type PendingLimits } from './limits.js';
import type { State, StateStore } from './state-store.js';
import type { ApprovalKind, ApprovalRecord, ApprovalStatus } from './types.js';
import { refuseWithinCooldown } from './deny-cooldown.js';
import { announceLapsed, approvalEvent, lapsedUnannounced, type ApprovalEventSink } from './events.js';

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

export interface ApprovalRequestInput {
  kind: ApprovalKind;
  agentId: string;
  scopes: string[];
  ttlMs: number;
  maxUses?: number;
  reason: string;
  /** The agent's own words (untrusted, at most 500 characters), kept for the human. */
  agentReason?: string;
  /** The person an OAuth connector acts for (`admin:alice`), shown to approvers. */
  onBehalfOf?: string;
  rule: string;
  approvers: number;
  delayMs: number;
}

/** Optional behaviour of the workflow (hygiene and events); all off when absent. */
export interface ApprovalsOptions {
  /** After a denial, the same agent asking for the same scopes within this gets the denial again. */
  denyCooldownMs?: number;
  /** Called inside the same transaction as each change a human should hear of (see events.ts). */
  onEvent?: ApprovalEventSink;
  /** How many open requests (and bytes of them) one agent may have waiting for a human. */
  pendingLimits?: PendingLimits;
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

const sameScopes = (a: string[], b: string[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);

/**
 * The approval workflow over a StateStore. Agents open and read requests; humans (the CLI,
 * later the dashboard, always with an admin credential checked by the caller) approve or deny.
 */
export class Approvals {
  constructor(
    private readonly store: StateStore,
    private readonly clock: Clock,
    private readonly pendingTtlMs: number,
    private readonly options: ApprovalsOptions = {},
  ) {}

  /**
   * Opens a request bound to (agent, kind, canonical scopes, ttl), or returns the agent's
   * pending one for exactly that binding so a retrying agent does not flood the humans.
   * @throws AssError TOO_MANY_PENDING when the agent's open requests are at their cap.
   */
  async request(input: ApprovalRequestInput): Promise<{ approval: ApprovalRecord; reused: boolean }> {
    const now = this.clock();
    return this.store.transact((state) => {
      refuseWithinCooldown(state, input, now, this.options.denyCooldownMs ?? 0);
      for (const a of Object.values(state.approvals)) {
        if (
          a.agent_id === input.agentId &&
          a.kind === input.kind &&
          a.ttl_ms === input.ttlMs &&
          a.max_uses === input.maxUses &&
          sameScopes(a.scopes, input.scopes) &&
          viewApproval(a, now).status === 'pending'
        ) {
          return { approval: a, reused: true };
        }
      }
      const approval: ApprovalRecord = {
        id: randomUUID(),
        kind: input.kind,
        agent_id: input.agentId,
        scopes: input.scopes,
        ttl_ms: input.ttlMs,
        ...(input.maxUses !== undefined ? { max_uses: input.maxUses } : {}),
        reason: input.reason,
        ...(input.agentReason ? { agent_reason: input.agentReason } : {}),
        ...(input.onBehalfOf ? { on_behalf_of: input.onBehalfOf } : {}),
        rule: input.rule,
        created_at: now.toISOString(),
        expires_at: iso(now.getTime() + this.pendingTtlMs),
        approvers_required: input.approvers,
        delay_ms: input.delayMs,
        approvals: [],
        status: 'pending',
      };
      // Security: bounded per agent (count and bytes), checked under the store's lock.
      checkPendingCap(state, approval, now, this.options.pendingLimits ?? DEFAULT_PENDING_LIMITS);
      state.approvals[approval.id] = approval;
      this.options.onEvent?.(state, approvalEvent('approval.requested', approval, now));
      return { approval, reused: false };
    });
  }

  /** An agent may read only its own approvals; others look exactly like unknown ids. */
  async viewForAgent(id: string, agentId: string): Promise<ApprovalView> {
    const state = await this.store.read();
    const approval = state.approvals[id];
    if (!approval || approval.agent_id !== agentId) {
      throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${id}' for this agent. Use the approval_id returned by get_secret or request_token.`);
    }
    return viewApproval(approval, this.clock());
  }

  /** One request as a human sees it; unknown ids throw APPROVAL_NOT_FOUND. */
  async find(id: string): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
    const approval = this.mustFind((await this.store.read()).approvals[id], id);
    return { approval, view: viewApproval(approval, this.clock()) };
  }

  async list(): Promise<{ approval: ApprovalRecord; view: ApprovalView }[]> {
    const state = await this.store.read();
    const now = this.clock();
    return Object.values(state.approvals)
      .sort((a, b) => a.created_at.localeCompare(b.created_at))
      .map((approval) => ({ approval, view: viewApproval(approval, now) }));
  }

  /**
   * Records one admin's approval. It is granted once `approvers_required` distinct admins
   * approved; an admin approving twice counts once.
   */
  async approve(id: string, adminId: string): Promise<{ approval: ApprovalRecord; view: ApprovalView; granted: boolean }> {
    const now = this.clock();
    return this.store.transact((state) => {
      const approval = this.mustFind(state.approvals[id], id);
      const view = viewApproval(approval, now);
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
        this.options.onEvent?.(state, approvalEvent('approval.granted', approval, now));
      }
      return { approval, view: viewApproval(approval, now), granted };
    });
  }

  /** Denies a pending request, or cancels an approved one whose delay has not run out. */
  async deny(id: string, adminId: string): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
    const now = this.clock();
    return this.store.transact((state) => {
      const approval = this.mustFind(state.approvals[id], id);
      const view = viewApproval(approval, now);
      if (view.status !== 'pending') throw new AssError('CONFLICT', `Approval ${id} is ${view.status}; only a pending request (or one still in its delay) can be denied.`);
      // A deny of an approved request still in its delay is a cancellation, shown as such to humans.
      if (approval.status === 'approved') approval.cancelled = true;
      approval.status = 'denied';
      approval.denied_by = adminId;
      approval.resolved_at = now.toISOString();
      this.options.onEvent?.(state, approvalEvent(approval.cancelled ? 'approval.cancelled' : 'approval.denied', approval, now));
      return { approval, view: viewApproval(approval, now) };
    });
  }

  /** Emits `approval.expired` once for each request that lapsed unanswered (see events.ts). */
  async announceLapsed(): Promise<number> {
    const sink = this.options.onEvent;
    const now = this.clock();
    if (!sink || lapsedUnannounced(await this.store.read(), now).length === 0) return 0;
    return this.store.transact((state) => announceLapsed(state, now, sink));
  }

  /** Scopes of the agent's secret-access grants in force now. */
  async activeGrantScopes(agentId: string): Promise<string[]> {
    const state = await this.store.read();
    const now = this.clock();
    return Object.values(state.approvals)
      .filter((a) => a.agent_id === agentId && a.kind === 'secret_access' && isGrantActive(a, now))
      .flatMap((a) => a.scopes);
  }

  /**
   * Marks an approved token request as redeemed, once: of any number of concurrent callers
   * exactly one gets the record back (the lock serialises them; the flag decides).
   */
  async redeemTokenApproval<T>(
    agentId: string,
    scopes: string[],
    ttlMs: number,
    maxUses: number | undefined,
    issue: (approval: ApprovalRecord, state: State) => T,
  ): Promise<T | null> {
    const now = this.clock();
    return this.store.transact((state) => {
      const candidate = Object.values(state.approvals).find(
        (a) => a.agent_id === agentId && a.kind === 'token' && a.ttl_ms === ttlMs && a.max_uses === maxUses && sameScopes(a.scopes, scopes) && !a.redeemed_at && isGrantActive(a, now),
      );
      if (!candidate) return null;
      candidate.redeemed_at = now.toISOString();
      return issue(candidate, state);
    });
  }

  private mustFind(approval: ApprovalRecord | undefined, id: string): ApprovalRecord {
    if (!approval) throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${id}'. Run \`agent-secret-store approvals list\` to see the requests.`);
    return approval;
  }
}
