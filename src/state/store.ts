/**
 * The state store as the operations the domain needs: open or reuse a request, record a
 * decision, redeem a token approval, issue a token, consume a use, revoke an agent, the webhook
 * outbox, rate-limit buckets, prune. Every operation that must happen once happens inside one transaction of the
 * implementation (the file store's lock; PostgreSQL's row and advisory locks), so it happens
 * once across processes and replicas. An operation touches only the records it names and the
 * records of one agent: its cost does not grow with the history the store keeps.
 *
 * The rules applied inside (caps, quorum, cooldown, retention) are in rules.ts, shared by every
 * implementation; an implementation provides the records (`RecordBackend`).
 */
import type { ApprovalEvent, OutboxState } from '../shared/approval-events.js';
import { AssError } from '../shared/errors.js';
import { approvalEvent, isLapsedUnannounced, type ApprovalEventSink } from './events.js';
import { checkTake, type RateLimits, type RateVerdict } from './rate-limit.js';
import type { ApprovalRecord, TokenRecord } from './records.js';
import {
  applyApprove, applyDeny, approvalIsStale, checkPendingCap, checkTokenCap, findCooldownDenial, findReusable, isGrantActive, revokeApproval, revokeToken, sameScopes, tokenIsStale,
  type PendingLimits,
} from './rules.js';

/** One transaction over the records. Reads through it lock what they read until it ends. */
export interface RecordTx {
  approval(id: string): Promise<ApprovalRecord | undefined>;
  token(id: string): Promise<TokenRecord | undefined>;
  /** Locks the agent (its requests, tokens and caps) for the rest of the transaction and lists its approvals. */
  agentApprovals(agentId: string): Promise<ApprovalRecord[]>;
  /** Locks the agent, as agentApprovals, and lists its tokens. */
  agentTokens(agentId: string): Promise<TokenRecord[]>;
  putApproval(record: ApprovalRecord): void;
  deleteApproval(record: ApprovalRecord): void;
  putToken(record: TokenRecord): void;
  deleteToken(record: TokenRecord): void;
  addRevokedKey(keySha256: string): void;
  /** The webhook outbox, to change in place; stored with the transaction. */
  outbox(): Promise<OutboxState>;
}

/** Where the records are kept (a directory of files, or PostgreSQL). */
export interface RecordBackend {
  transact<T>(fn: (tx: RecordTx) => Promise<T>): Promise<T>;
  /** Reads without a lock: what was committed last. */
  approval(id: string): Promise<ApprovalRecord | undefined>;
  token(id: string): Promise<TokenRecord | undefined>;
  agentApprovals(agentId: string): Promise<ApprovalRecord[]>;
  /** Approvals whose stored status is pending (an index: their number is capped per agent). */
  pendingApprovals(): Promise<ApprovalRecord[]>;
  /** Every approval (a human's list: its size is the history kept). */
  listApprovals(): Promise<ApprovalRecord[]>;
  listTokens(): Promise<TokenRecord[]>;
  isRevoked(keySha256: string): Promise<boolean>;
  /** How many agent keys have been revoked so far (it only grows: a change means a new revocation). */
  revocationCount(): Promise<number>;
  outbox(): Promise<OutboxState>;
  /** Changes whenever anything was committed, by any process (cheap: polled by open dashboards). */
  changeMarker(): Promise<string>;
  /**
   * Takes `count` calls from the rate-limit bucket `key` (all or none), atomically: of callers
   * racing on the instances that share the buckets, no more than the bucket holds pass.
   */
  takeRate(key: string, count: number, limits: RateLimits): Promise<RateVerdict>;
  /** Drops buckets that have refilled (a full bucket is the same as none); returns how many. */
  pruneRates(): Promise<number>;
  /** Changes whenever any process published a secret write (cheap: read before every cached read). */
  secretWriteMarker(): Promise<string>;
  /** Tells every process on this store that a secret was written (their read caches drop what they hold). */
  publishSecretWrite(): Promise<void>;
  close(): Promise<void>;
}

/** A request to open, built by the approval domain (id, times and binding set). */
export interface OpenApprovalInput {
  candidate: ApprovalRecord;
  now: Date;
  /** After a denial, the same agent asking for the same scopes within this gets the denial again. */
  cooldownMs: number;
  limits: PendingLimits;
  sink?: ApprovalEventSink;
}

export type OpenApprovalOutcome =
  | { outcome: 'created'; approval: ApprovalRecord }
  | { outcome: 'reused'; approval: ApprovalRecord }
  /** Refused: a human denied the same scopes within the cooldown. */
  | { outcome: 'cooldown'; denied: ApprovalRecord };

export interface RedeemMatch {
  agentId: string;
  scopes: string[];
  ttlMs: number;
  maxUses: number | undefined;
}

export class StateStore {
  /**
   * Called after a transaction that queued approval events committed (the notifier delivers
   * then: on PostgreSQL a delivery round started inside the transaction would not see them yet).
   */
  afterEvents: (() => void) | null = null;

  constructor(readonly records: RecordBackend) {}

  /** The sink, counting what it queues, and a call that tells `afterEvents` once they are committed. */
  private tracked(sink: ApprovalEventSink | undefined): { sink: ApprovalEventSink | undefined; committed: () => void } {
    if (!sink) return { sink, committed: () => undefined };
    let queued = 0;
    return {
      sink: (outbox, event) => {
        queued++;
        sink(outbox, event);
      },
      committed: () => {
        if (queued > 0) this.afterEvents?.();
      },
    };
  }

  /**
   * Opens `candidate`, or returns the agent's pending request with exactly that binding; refuses
   * within a denial's cooldown, and beyond the agent's pending caps (TOO_MANY_PENDING).
   */
  async openApproval(input: OpenApprovalInput): Promise<OpenApprovalOutcome> {
    const { candidate, now } = input;
    const events = this.tracked(input.sink);
    const outcome = await this.records.transact(async (tx): Promise<OpenApprovalOutcome> => {
      const mine = await this.pruneAgent(tx, candidate.agent_id, now);
      const denied = findCooldownDenial(mine.approvals, { agentId: candidate.agent_id, scopes: candidate.scopes }, now, input.cooldownMs);
      if (denied) return { outcome: 'cooldown', denied };
      const reusable = findReusable(mine.approvals, candidate, now);
      if (reusable) return { outcome: 'reused', approval: reusable };
      // Security: bounded per agent (count and bytes), checked under the agent's lock.
      checkPendingCap(mine.approvals, candidate, now, input.limits);
      tx.putApproval(candidate);
      await emit(tx, events.sink, approvalEvent('approval.requested', candidate, now));
      return { outcome: 'created', approval: candidate };
    });
    events.committed();
    return outcome;
  }

  /** One admin's approve or deny (a deny during a delay cancels). Quorum counts distinct admins. */
  async decide(id: string, verb: 'approve' | 'deny', adminId: string, now: Date, eventSink?: ApprovalEventSink): Promise<{ approval: ApprovalRecord; granted: boolean }> {
    const events = this.tracked(eventSink);
    const sink = events.sink;
    const decided = await this.records.transact(async (tx) => {
      const approval = await tx.approval(id);
      if (!approval) throw notFound(id);
      if (verb === 'approve') {
        const { granted } = applyApprove(approval, adminId, now);
        tx.putApproval(approval);
        if (granted) await emit(tx, sink, approvalEvent('approval.granted', approval, now));
        return { approval, granted };
      }
      const { cancelled } = applyDeny(approval, adminId, now);
      tx.putApproval(approval);
      await emit(tx, sink, approvalEvent(cancelled ? 'approval.cancelled' : 'approval.denied', approval, now));
      return { approval, granted: false };
    });
    events.committed();
    return decided;
  }

  getApproval(id: string): Promise<ApprovalRecord | undefined> {
    return this.records.approval(id);
  }

  /** Every approval kept, oldest first (a human's list). */
  async listApprovals(): Promise<ApprovalRecord[]> {
    return (await this.records.listApprovals()).sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
  }

  /** Approvals waiting for a human (stored status pending; some may have lapsed by now). */
  pendingApprovals(): Promise<ApprovalRecord[]> {
    return this.records.pendingApprovals();
  }

  /** The agent's secret-access grants in force at `now`. */
  async activeGrants(agentId: string, now: Date): Promise<ApprovalRecord[]> {
    return (await this.records.agentApprovals(agentId)).filter((a) => a.kind === 'secret_access' && isGrantActive(a, now));
  }

  /** Emits `approval.expired` once per request that lapsed unanswered; of several processes exactly one announces each. */
  async announceLapsed(now: Date, eventSink: ApprovalEventSink): Promise<number> {
    const lapsed = (await this.records.pendingApprovals()).filter((a) => isLapsedUnannounced(a, now));
    if (lapsed.length === 0) return 0;
    const events = this.tracked(eventSink);
    const sink = events.sink!;
    const announced = await this.records.transact(async (tx) => {
      let count = 0;
      for (const { id } of lapsed) {
        const a = await tx.approval(id);
        if (!a || !isLapsedUnannounced(a, now)) continue;
        a.expiry_announced = true;
        tx.putApproval(a);
        await emit(tx, sink, approvalEvent('approval.expired', a, now));
        count++;
      }
      return count;
    });
    events.committed();
    return announced;
  }

  /**
   * Marks the agent's approved, unredeemed token request with this binding as redeemed and
   * stores the token `build` makes from it, in one transaction: of any number of concurrent
   * callers exactly one gets a token. Null when there is no such approval.
   */
  async redeemTokenApproval(match: RedeemMatch, now: Date, maxActive: number, build: (approval: ApprovalRecord) => TokenRecord): Promise<TokenRecord | null> {
    return this.records.transact(async (tx) => {
      const mine = await this.pruneAgent(tx, match.agentId, now);
      const candidate = mine.approvals.find(
        (a) => a.kind === 'token' && a.ttl_ms === match.ttlMs && a.max_uses === match.maxUses && sameScopes(a.scopes, match.scopes) && !a.redeemed_at && isGrantActive(a, now),
      );
      if (!candidate) return null;
      const token = build(candidate);
      checkTokenCap(mine.tokens, token.agent_id, now, maxActive);
      candidate.redeemed_at = now.toISOString();
      tx.putApproval(candidate);
      tx.putToken(token);
      return token;
    });
  }

  /** Stores a new token, refused beyond `maxActive` live tokens for its agent (TOO_MANY_TOKENS). */
  async issueToken(token: TokenRecord, now: Date, maxActive: number): Promise<TokenRecord> {
    return this.records.transact(async (tx) => {
      const mine = await this.pruneAgent(tx, token.agent_id, now);
      checkTokenCap(mine.tokens, token.agent_id, now, maxActive);
      tx.putToken(token);
      return token;
    });
  }

  getToken(id: string): Promise<TokenRecord | undefined> {
    return this.records.token(id);
  }

  listTokens(): Promise<TokenRecord[]> {
    return this.records.listTokens();
  }

  /**
   * Counts one use of a token with `max_uses`; of concurrent callers at the last use exactly one
   * succeeds. @throws AssError UNAUTHENTICATED when it is gone, revoked or used up.
   */
  async consumeUse(tokenId: string): Promise<TokenRecord> {
    return this.records.transact(async (tx) => {
      const record = await tx.token(tokenId);
      if (!record || record.revoked_at) throw new AssError('UNAUTHENTICATED', 'The token is not valid any more.');
      if (record.max_uses !== undefined && record.uses >= record.max_uses) throw new AssError('UNAUTHENTICATED', `The token has been used its ${record.max_uses} allowed times.`);
      record.uses += 1;
      tx.putToken(record);
      return record;
    });
  }

  /** Revokes one token (a human's action). False when there is no such token. */
  async revokeToken(tokenId: string, now: Date): Promise<boolean> {
    return this.records.transact(async (tx) => {
      const record = await tx.token(tokenId);
      if (!record) return false;
      if (revokeToken(record, now.toISOString())) tx.putToken(record);
      return true;
    });
  }

  /**
   * Everything a revoked agent key leaves behind, ended in one transaction: the key itself (even
   * servers started earlier refuse it on their next call), every token the agent holds, and its
   * pending or approved approvals — so re-adding an agent under the same id inherits nothing.
   */
  async revokeAgent(input: { agentId: string; keySha256: string; adminId: string; now: Date }): Promise<{ tokens: number; approvals: number }> {
    const at = input.now.toISOString();
    return this.records.transact(async (tx) => {
      tx.addRevokedKey(input.keySha256);
      let tokens = 0;
      for (const token of await tx.agentTokens(input.agentId)) {
        if (revokeToken(token, at)) {
          tx.putToken(token);
          tokens++;
        }
      }
      let approvals = 0;
      for (const approval of await tx.agentApprovals(input.agentId)) {
        if (revokeApproval(approval, input.adminId, at)) {
          tx.putApproval(approval);
          approvals++;
        }
      }
      return { tokens, approvals };
    });
  }

  isRevoked(keySha256: string): Promise<boolean> {
    return this.records.isRevoked(keySha256);
  }

  /** Grows by one with each revoked key, whichever process revoked it (the read cache watches it). */
  revocationCount(): Promise<number> {
    return this.records.revocationCount();
  }

  /**
   * The read cache's cross-process signal: a secret written by the CLI, the dashboard of
   * another process or another replica moves this marker, and every running server's read cache
   * drops its entries before its next read.
   */
  secretWriteMarker(): Promise<string> {
    return this.records.secretWriteMarker();
  }

  publishSecretWrite(): Promise<void> {
    return this.records.publishSecretWrite();
  }

  /** The webhook outbox as committed (read without a lock). */
  readOutbox(): Promise<OutboxState> {
    return this.records.outbox();
  }

  /** Changes the outbox in one transaction (claims and settlements of deliveries). */
  transactOutbox<T>(fn: (outbox: OutboxState) => T): Promise<T> {
    return this.records.transact(async (tx) => fn(await tx.outbox()));
  }

  /**
   * Drops what can no longer change a decision (rules.ts says what and when), so the store stays
   * small however long a server runs. A scan of everything kept: servers run it on a timer,
   * not per request (every agent operation prunes that agent's records already). Returns how many went.
   */
  async prune(now: Date): Promise<{ approvals: number; tokens: number }> {
    await this.records.pruneRates();
    const approvals = (await this.records.listApprovals()).filter((a) => approvalIsStale(a, now));
    const tokens = (await this.records.listTokens()).filter((t) => tokenIsStale(t, now));
    if (approvals.length === 0 && tokens.length === 0) return { approvals: 0, tokens: 0 };
    return this.records.transact(async (tx) => {
      const gone = { approvals: 0, tokens: 0 };
      for (const { id } of approvals) {
        const a = await tx.approval(id);
        if (a && approvalIsStale(a, now)) {
          tx.deleteApproval(a);
          gone.approvals++;
        }
      }
      for (const { id } of tokens) {
        const t = await tx.token(id);
        if (t && tokenIsStale(t, now)) {
          tx.deleteToken(t);
          gone.tokens++;
        }
      }
      return gone;
    });
  }

  changeMarker(): Promise<string> {
    return this.records.changeMarker();
  }

  /**
   * A rate limit's token bucket (`limits.burst` at once, refilled at `limits.perMinute`): takes
   * `count` from `key` or answers how many seconds to wait. The file store keeps its buckets in
   * this process's memory (each process counts its own); PostgreSQL keeps one row per key, updated
   * by one atomic statement, so every replica counts against the same bucket.
   * @throws AssError INVALID_ARGUMENT for a bad key, count or limits (nothing is counted).
   */
  async takeRateLimit(key: string, count: number, limits: RateLimits): Promise<RateVerdict> {
    checkTake(key, count, limits);
    return this.records.takeRate(key, count, limits);
  }

  close(): Promise<void> {
    return this.records.close();
  }

  /** Locks the agent, drops its stale records and returns the rest (bounded by the agent's caps and retention). */
  private async pruneAgent(tx: RecordTx, agentId: string, now: Date): Promise<{ approvals: ApprovalRecord[]; tokens: TokenRecord[] }> {
    const approvals: ApprovalRecord[] = [];
    for (const a of await tx.agentApprovals(agentId)) {
      if (approvalIsStale(a, now)) tx.deleteApproval(a);
      else approvals.push(a);
    }
    const tokens: TokenRecord[] = [];
    for (const t of await tx.agentTokens(agentId)) {
      if (tokenIsStale(t, now)) tx.deleteToken(t);
      else tokens.push(t);
    }
    return { approvals, tokens };
  }
}

async function emit(tx: RecordTx, sink: ApprovalEventSink | undefined, event: ApprovalEvent): Promise<void> {
  if (sink) sink(await tx.outbox(), event);
}

function notFound(id: string): AssError {
  return new AssError('APPROVAL_NOT_FOUND', `No approval request '${id}'. Run \`agent-secret-store approvals list\` to see the requests.`);
}
