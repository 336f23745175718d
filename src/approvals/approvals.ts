import { randomUUID } from 'node:crypto';
import { AssError } from '../shared/errors.js';
import type { Clock } from '../shared/types.js';
import { DEFAULT_PENDING_LIMITS, type PendingLimits } from './limits.js';
import type { StateStore } from '../state/store.js';
import { isGrantActive, viewApproval, type ApprovalView } from '../state/rules.js';
import type { ApprovalKind, ApprovalRecord, TokenRecord } from './types.js';
import { cooldownRefusal } from './deny-cooldown.js';
import type { ApprovalEventSink } from './events.js';

export { isGrantActive, viewApproval, type ApprovalView };

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
  /** Called inside the same state transaction as each change a human should hear of (see events.ts). */
  onEvent?: ApprovalEventSink;
  /** How many open requests (and bytes of them) one agent may have waiting for a human. */
  pendingLimits?: PendingLimits;
}

const iso = (ms: number): string => new Date(ms).toISOString();

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
    const candidate: ApprovalRecord = {
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
    const cooldownMs = this.options.denyCooldownMs ?? 0;
    const opened = await this.store.openApproval({
      candidate,
      now,
      cooldownMs,
      // Security: bounded per agent (count and bytes), checked under the store's lock.
      limits: this.options.pendingLimits ?? DEFAULT_PENDING_LIMITS,
      ...(this.options.onEvent ? { sink: this.options.onEvent } : {}),
    });
    if (opened.outcome === 'cooldown') throw cooldownRefusal(opened.denied, now, cooldownMs);
    return { approval: opened.approval, reused: opened.outcome === 'reused' };
  }

  /** An agent may read only its own approvals; others look exactly like unknown ids. */
  async viewForAgent(id: string, agentId: string): Promise<ApprovalView> {
    const approval = await this.store.getApproval(id);
    if (!approval || approval.agent_id !== agentId) {
      throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${id}' for this agent. Use the approval_id returned by get_secret or request_token.`);
    }
    return viewApproval(approval, this.clock());
  }

  /** One request as a human sees it; unknown ids throw APPROVAL_NOT_FOUND. */
  async find(id: string): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
    const approval = this.mustFind(await this.store.getApproval(id), id);
    return { approval, view: viewApproval(approval, this.clock()) };
  }

  async list(): Promise<{ approval: ApprovalRecord; view: ApprovalView }[]> {
    const all = await this.store.listApprovals();
    const now = this.clock();
    return all.map((approval) => ({ approval, view: viewApproval(approval, now) }));
  }

  /** Requests waiting for a human now (a delay still running counts as waiting). */
  async pending(): Promise<{ approval: ApprovalRecord; view: ApprovalView }[]> {
    const now = this.clock();
    return (await this.store.pendingApprovals())
      .map((approval) => ({ approval, view: viewApproval(approval, now) }))
      .filter(({ view }) => view.status === 'pending');
  }

  /**
   * Records one admin's approval. It is granted once `approvers_required` distinct admins
   * approved; an admin approving twice counts once.
   */
  async approve(id: string, adminId: string): Promise<{ approval: ApprovalRecord; view: ApprovalView; granted: boolean }> {
    const now = this.clock();
    const { approval, granted } = await this.store.decide(id, 'approve', adminId, now, this.options.onEvent);
    return { approval, view: viewApproval(approval, now), granted };
  }

  /** Denies a pending request, or cancels an approved one whose delay has not run out. */
  async deny(id: string, adminId: string): Promise<{ approval: ApprovalRecord; view: ApprovalView }> {
    const now = this.clock();
    const { approval } = await this.store.decide(id, 'deny', adminId, now, this.options.onEvent);
    return { approval, view: viewApproval(approval, now) };
  }

  /** Emits `approval.expired` once for each request that lapsed unanswered (see events.ts). */
  async announceLapsed(): Promise<number> {
    const sink = this.options.onEvent;
    if (!sink) return 0;
    return this.store.announceLapsed(this.clock(), sink);
  }

  /** Scopes of the agent's secret-access grants in force now. */
  async activeGrantScopes(agentId: string): Promise<string[]> {
    return (await this.store.activeGrants(agentId, this.clock())).flatMap((a) => a.scopes);
  }

  /**
   * Marks an approved token request as redeemed and stores the token `build` makes from it, in
   * one state transaction: of any number of concurrent callers exactly one gets the token.
   */
  async redeemTokenApproval(
    agentId: string,
    scopes: string[],
    ttlMs: number,
    maxUses: number | undefined,
    maxActiveTokens: number,
    build: (approval: ApprovalRecord) => TokenRecord,
  ): Promise<TokenRecord | null> {
    return this.store.redeemTokenApproval({ agentId, scopes, ttlMs, maxUses }, this.clock(), maxActiveTokens, build);
  }

  private mustFind(approval: ApprovalRecord | undefined, id: string): ApprovalRecord {
    if (!approval) throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${id}'. Run \`agent-secret-store approvals list\` to see the requests.`);
    return approval;
  }
}
