/**
 * The one contract suite every state-store implementation runs (src/state/store.ts): the file
 * store and the PostgreSQL store. A target opens as many store instances over one storage as a
 * case asks for — each its own process-level state (cache, pool), as replicas would have — so
 * the must-happen-once cases race several instances, not one.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { ApprovalRecord, TokenRecord } from '../../src/state/records.js';
import type { ApprovalEvent, OutboxState } from '../../src/shared/approval-events.js';
import type { StateStore } from '../../src/state/store.js';
import { DEFAULT_PENDING_LIMITS } from '../../src/state/rules.js';

export interface StateTarget {
  /** A new store instance over the same storage (another process or replica, as far as the store can tell). */
  open(): Promise<StateStore>;
  cleanup(): Promise<void>;
}

const MIN = 60_000;
const T0 = Date.parse('2026-06-01T10:00:00Z');
const at = (ms = 0) => new Date(T0 + ms);

function candidate(over: Partial<ApprovalRecord> = {}, now = at()): ApprovalRecord {
  return {
    id: randomUUID(), kind: 'secret_access', agent_id: 'bot', scopes: ['secrets:read:prod/KEY'], ttl_ms: 60 * MIN, reason: 'r', rule: 'tier:critical',
    created_at: now.toISOString(), expires_at: new Date(now.getTime() + 15 * MIN).toISOString(), approvers_required: 1, delay_ms: 0, approvals: [], status: 'pending', ...over,
  };
}

function token(over: Partial<TokenRecord> = {}, now = at()): TokenRecord {
  return { id: randomUUID(), agent_id: 'bot', scopes: ['secrets:read:prod/*'], issued_at: now.toISOString(), expires_at: new Date(now.getTime() + 60 * MIN).toISOString(), uses: 0, ...over };
}

/** A sink as the notifier's: queues every event in the outbox given (inside the store's transaction). */
const queueAll = (outbox: OutboxState, event: ApprovalEvent): void => {
  (outbox.outbox ??= []).push({ webhook: 'hook', event, attempts: 0, next_attempt_at: event.at });
};

const open = (store: StateStore, c: ApprovalRecord, now = at(), over: { cooldownMs?: number; limits?: typeof DEFAULT_PENDING_LIMITS } = {}) =>
  store.openApproval({ candidate: c, now, cooldownMs: over.cooldownMs ?? 0, limits: over.limits ?? DEFAULT_PENDING_LIMITS, sink: queueAll });

/** What an implementation shares between instances beyond the records. */
export interface StateContractOptions {
  /** Rate-limit buckets are seen by every instance (PostgreSQL), or kept per instance, as per process (the file store). */
  sharedRateLimits: boolean;
}

/** One token per 1,000 minutes: nothing refills while a case runs, however slow the machine. */
const NO_REFILL = { perMinute: 0.001, burst: 10 };

export function runStateContract(name: string, factory: () => Promise<StateTarget>, options: StateContractOptions): void {
  describe(`state store contract: ${name}`, () => {
    let target: StateTarget | null = null;
    const setup = async (): Promise<StateTarget> => (target = await factory());
    afterEach(async () => {
      await target?.cleanup();
      target = null;
    });

    it('opens a request with its event, reuses the pending one of the same binding, and reads it back on another instance', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const first = (await open(a, candidate())) as { outcome: string; approval: ApprovalRecord };
      expect(first.outcome).toBe('created');
      const again = await open(b, candidate());
      expect(again).toMatchObject({ outcome: 'reused', approval: { id: first.approval.id } });
      expect((await open(b, candidate({ ttl_ms: 30 * MIN }))).outcome).toBe('created');
      expect((await b.getApproval(first.approval.id))?.status).toBe('pending');
      expect((await a.listApprovals()).map((x) => x.id)).toContain(first.approval.id);
      expect((await a.pendingApprovals()).length).toBe(2);
      const outbox = await b.readOutbox();
      expect(outbox.outbox!.filter((e) => e.event.type === 'approval.requested').map((e) => e.event.approval.id)).toContain(first.approval.id);
      expect(await a.getApproval('no-such-id')).toBeUndefined();
      expect(await a.getApproval('../../etc/passwd')).toBeUndefined();
    });

    it('caps pending requests per agent even when 30 instances race: exactly the cap is stored', async () => {
      const t = await setup();
      const stores = await Promise.all(Array.from({ length: 3 }, () => t.open()));
      const results = await Promise.allSettled(
        Array.from({ length: 30 }, (_, i) => open(stores[i % 3]!, candidate({ scopes: [`secrets:read:prod/K${i}`] }), at(), { limits: { maxPerAgent: 5, maxBytesPerAgent: 1 << 20 } })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(refused.every((r) => (r.reason as { code?: string }).code === 'TOO_MANY_PENDING')).toBe(true);
      expect((await stores[0]!.listApprovals()).filter((a) => a.agent_id === 'bot')).toHaveLength(5);
      // Another agent is not affected by this one's cap.
      expect((await open(stores[1]!, candidate({ agent_id: 'other' }))).outcome).toBe('created');
    });

    it('refuses within a denial cooldown (whatever the ttl or kind), and not after it', async () => {
      const t = await setup();
      const s = await t.open();
      const { approval } = (await open(s, candidate())) as { approval: ApprovalRecord };
      await s.decide(approval.id, 'deny', 'alice', at(MIN));
      const refused = await open(s, candidate({ kind: 'token', ttl_ms: 5 * MIN }, at(2 * MIN)), at(2 * MIN), { cooldownMs: 10 * MIN });
      expect(refused).toMatchObject({ outcome: 'cooldown', denied: { id: approval.id } });
      expect((await open(s, candidate({}, at(12 * MIN)), at(12 * MIN), { cooldownMs: 10 * MIN })).outcome).toBe('created');
    });

    it('quorum: two distinct admins on two instances at once grant it exactly once; the same admin twice counts once', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const { approval } = (await open(a, candidate({ approvers_required: 2 }))) as { approval: ApprovalRecord };
      await expect(Promise.all([a.decide(approval.id, 'approve', 'alice', at(MIN)), a.decide(approval.id, 'approve', 'alice', at(MIN))])).rejects.toMatchObject({ code: 'CONFLICT' });
      const [x, y] = await Promise.allSettled([b.decide(approval.id, 'approve', 'bob', at(MIN), queueAll), a.decide(approval.id, 'approve', 'carol', at(MIN), queueAll)]);
      const ok = [x, y].filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ granted: boolean }>[];
      // Whichever comes first makes the quorum with alice; the other then finds it approved already.
      expect(ok).toHaveLength(1);
      expect(ok[0]!.value.granted).toBe(true);
      const stored = (await b.getApproval(approval.id))!;
      expect(stored.status).toBe('approved');
      expect(new Set(stored.approvals.map((p) => p.admin_id)).size).toBe(2);
      expect((await a.readOutbox()).outbox!.filter((e) => e.event.type === 'approval.granted')).toHaveLength(1);
    });

    it('deny during a delay cancels; a denial is final; unknown ids are APPROVAL_NOT_FOUND', async () => {
      const t = await setup();
      const s = await t.open();
      const { approval } = (await open(s, candidate({ delay_ms: 5 * MIN }))) as { approval: ApprovalRecord };
      expect((await s.decide(approval.id, 'approve', 'alice', at(MIN))).granted).toBe(true);
      expect(await s.activeGrants('bot', at(2 * MIN))).toEqual([]);
      const { approval: after } = await s.decide(approval.id, 'deny', 'bob', at(2 * MIN), queueAll);
      expect(after).toMatchObject({ status: 'denied', cancelled: true, denied_by: 'bob' });
      await expect(s.decide(approval.id, 'approve', 'carol', at(3 * MIN))).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await s.activeGrants('bot', at(10 * MIN))).toEqual([]);
      await expect(s.decide('nope', 'approve', 'alice', at())).rejects.toMatchObject({ code: 'APPROVAL_NOT_FOUND' });
      expect((await s.readOutbox()).outbox!.map((e) => e.event.type)).toContain('approval.cancelled');
    });

    it('an active grant is seen by every instance at once', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const { approval } = (await open(a, candidate())) as { approval: ApprovalRecord };
      expect(await b.activeGrants('bot', at(MIN))).toEqual([]);
      await a.decide(approval.id, 'approve', 'alice', at(MIN));
      expect((await b.activeGrants('bot', at(2 * MIN))).map((g) => g.id)).toEqual([approval.id]);
      expect(await b.activeGrants('bot', at(62 * MIN))).toEqual([]);
    });

    it('redeems a token approval exactly once among 20 callers on 4 instances', async () => {
      const t = await setup();
      const stores = await Promise.all(Array.from({ length: 4 }, () => t.open()));
      const { approval } = (await open(stores[0]!, candidate({ kind: 'token' }))) as { approval: ApprovalRecord };
      await stores[1]!.decide(approval.id, 'approve', 'alice', at(MIN));
      const match = { agentId: 'bot', scopes: ['secrets:read:prod/KEY'], ttlMs: 60 * MIN, maxUses: undefined };
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 4]!.redeemTokenApproval(match, at(2 * MIN), 200, (a) => token({ approval_id: a.id }, at(2 * MIN)))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await stores[2]!.listTokens()).filter((x) => x.approval_id === approval.id)).toHaveLength(1);
      expect((await stores[3]!.getApproval(approval.id))!.redeemed_at).toBe(at(2 * MIN).toISOString());
    });

    it('max_uses 5: 20 parallel consumes on 4 instances succeed exactly 5 times', async () => {
      const t = await setup();
      const stores = await Promise.all(Array.from({ length: 4 }, () => t.open()));
      const issued = await stores[0]!.issueToken(token({ max_uses: 5 }), at(), 200);
      const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => stores[i % 4]!.consumeUse(issued.id)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect((await stores[3]!.getToken(issued.id))!.uses).toBe(5);
      await expect(stores[1]!.consumeUse(randomUUID())).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    });

    it('caps live tokens per agent across instances (TOO_MANY_TOKENS); expired ones do not count', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).issueToken(token(), at(), 3)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(3);
      expect(results.filter((r) => r.status === 'rejected').every((r) => ((r as PromiseRejectedResult).reason as { code: string }).code === 'TOO_MANY_TOKENS')).toBe(true);
      // After the tokens expired, the agent may hold new ones (and the expired ones go).
      await a.issueToken(token({}, at(61 * MIN)), at(61 * MIN), 3);
      expect((await b.listTokens()).filter((x) => x.agent_id === 'bot')).toHaveLength(1);
    });

    it('revoking an agent ends its key, tokens and approvals, seen at once by another instance', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const hash = 'ab'.repeat(32);
      const issued = await a.issueToken(token(), at(), 200);
      const { approval } = (await open(a, candidate())) as { approval: ApprovalRecord };
      const other = await a.issueToken(token({ agent_id: 'other' }), at(), 200);
      expect(await b.isRevoked(hash)).toBe(false);
      expect(await a.revokeAgent({ agentId: 'bot', keySha256: hash, adminId: 'alice', now: at(MIN) })).toEqual({ tokens: 1, approvals: 1 });
      expect(await b.isRevoked(hash)).toBe(true);
      expect(await b.isRevoked('cd'.repeat(32))).toBe(false);
      expect((await b.getToken(issued.id))!.revoked_at).toBe(at(MIN).toISOString());
      expect((await b.getToken(other.id))!.revoked_at).toBeUndefined();
      expect(await b.getApproval(approval.id)).toMatchObject({ status: 'denied', revoked: true, denied_by: 'alice (agent revoked)' });
      await expect(b.consumeUse(issued.id)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
      // A revocation is not a human "no" to the scopes: no cooldown from it.
      expect((await open(b, candidate({}, at(2 * MIN)), at(2 * MIN), { cooldownMs: 60 * MIN })).outcome).toBe('created');
    });

    it('announces a lapsed request exactly once among instances racing', async () => {
      const t = await setup();
      const stores = await Promise.all(Array.from({ length: 3 }, () => t.open()));
      const { approval } = (await open(stores[0]!, candidate())) as { approval: ApprovalRecord };
      expect(await stores[0]!.announceLapsed(at(MIN), queueAll)).toBe(0);
      const counts = await Promise.all(stores.flatMap((s) => [s.announceLapsed(at(16 * MIN), queueAll), s.announceLapsed(at(16 * MIN), queueAll)]));
      expect(counts.reduce((x, y) => x + y, 0)).toBe(1);
      const expired = (await stores[1]!.readOutbox()).outbox!.filter((e) => e.event.type === 'approval.expired');
      expect(expired.map((e) => e.event.approval.id)).toEqual([approval.id]);
    });

    it('outbox changes are transactions: 40 increments from 4 instances all count', async () => {
      const t = await setup();
      const stores = await Promise.all(Array.from({ length: 4 }, () => t.open()));
      await Promise.all(Array.from({ length: 40 }, (_, i) => stores[i % 4]!.transactOutbox((o) => {
        const stats = (o.outbox_stats ??= { delivered: 0, failed_attempts: 0, abandoned: 0, dropped: 0 });
        stats.delivered += 1;
      })));
      expect((await stores[0]!.readOutbox()).outbox_stats!.delivered).toBe(40);
    });

    it('prunes what retention drops and keeps the rest', async () => {
      const t = await setup();
      const s = await t.open();
      const lapsed = (await open(s, candidate({ scopes: ['secrets:read:a/L'] }))) as { approval: ApprovalRecord };
      const decided = (await open(s, candidate({ scopes: ['secrets:read:a/D'] }))) as { approval: ApprovalRecord };
      await s.decide(decided.approval.id, 'deny', 'alice', at(MIN));
      const short = await s.issueToken(token({ expires_at: at(10 * MIN).toISOString() }), at(), 200);
      const long = await s.issueToken(token({ expires_at: at(48 * 60 * MIN).toISOString() }), at(), 200);
      expect(await s.prune(at(5 * MIN))).toEqual({ approvals: 0, tokens: 0 });
      expect(await s.prune(at(76 * MIN))).toEqual({ approvals: 1, tokens: 1 });
      expect(await s.getApproval(lapsed.approval.id)).toBeUndefined();
      expect(await s.getApproval(decided.approval.id)).toBeDefined();
      expect(await s.getToken(short.id)).toBeUndefined();
      expect(await s.getToken(long.id)).toBeDefined();
      expect((await s.pendingApprovals()).map((a) => a.id)).not.toContain(lapsed.approval.id);
      expect(await s.prune(at(8 * 24 * 60 * MIN))).toEqual({ approvals: 1, tokens: 1 });
      expect(await s.listApprovals()).toEqual([]);
    });

    it('rate limit: 20 racing takes of a burst of 10 pass exactly 10 times; the rest say when to retry; keys are separate', async () => {
      const t = await setup();
      const s = await t.open();
      const verdicts = await Promise.all(Array.from({ length: 20 }, () => s.takeRateLimit('http:bot', 1, NO_REFILL)));
      expect(verdicts.filter((v) => v.ok)).toHaveLength(10);
      for (const v of verdicts) if (!v.ok) expect(v.retryAfterS).toBe(60_000);
      expect(await s.takeRateLimit('http:other', 10, NO_REFILL)).toEqual({ ok: true });
      expect(await s.takeRateLimit('http:other', 1, NO_REFILL)).toMatchObject({ ok: false });
    });

    it('rate limit: a count is taken all or none, a count above the burst is never served, a bad input is refused and counts nothing', async () => {
      const t = await setup();
      const s = await t.open();
      expect(await s.takeRateLimit('k', 11, NO_REFILL)).toMatchObject({ ok: false });
      expect(await s.takeRateLimit('k', 7, NO_REFILL)).toEqual({ ok: true });
      expect(await s.takeRateLimit('k', 4, NO_REFILL)).toMatchObject({ ok: false });
      for (const [key, count, limits] of [['', 1, NO_REFILL], ['k', 0, NO_REFILL], ['k', 1.5, NO_REFILL], ['k', 1, { perMinute: 0, burst: 10 }], ['k', 1, { perMinute: 1, burst: -1 }]] as const) {
        await expect(s.takeRateLimit(key, count, limits)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }
      expect(await s.takeRateLimit('k', 3, NO_REFILL)).toEqual({ ok: true });
      expect(await s.takeRateLimit('k', 1, NO_REFILL)).toMatchObject({ ok: false });
    });

    it('rate limit: a bucket refills at its rate, never beyond its burst', async () => {
      const t = await setup();
      const s = await t.open();
      const fast = { perMinute: 600, burst: 2 }; // ten a second
      expect(await s.takeRateLimit('r', 2, fast)).toEqual({ ok: true });
      let again = await s.takeRateLimit('r', 1, fast);
      for (let i = 0; i < 400 && !again.ok; i++) {
        await new Promise((r) => setTimeout(r, 25));
        again = await s.takeRateLimit('r', 1, fast);
      }
      expect(again).toEqual({ ok: true });
      await new Promise((r) => setTimeout(r, 400));
      expect(await s.takeRateLimit('r', 3, fast)).toMatchObject({ ok: false });
    });

    it('rate limit: prune drops the buckets that refilled and keeps the ones still counting', async () => {
      const t = await setup();
      const s = await t.open();
      expect(await s.takeRateLimit('p:slow', 10, NO_REFILL)).toEqual({ ok: true });
      expect(await s.takeRateLimit('p:fast', 1, { perMinute: 6_000_000, burst: 1 })).toEqual({ ok: true });
      let dropped = await s.records.pruneRates();
      for (let i = 0; i < 200 && dropped === 0; i++) {
        await new Promise((r) => setTimeout(r, 10));
        dropped = await s.records.pruneRates();
      }
      expect(dropped).toBe(1);
      await s.prune(at());
      expect(await s.takeRateLimit('p:slow', 1, NO_REFILL)).toMatchObject({ ok: false });
    });

    if (options.sharedRateLimits) {
      it('rate limit: one bucket for every instance — 20 takes racing on 4 instances pass exactly 10 times', async () => {
        const t = await setup();
        const stores = await Promise.all(Array.from({ length: 4 }, () => t.open()));
        const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => stores[i % 4]!.takeRateLimit('http:bot', 1, NO_REFILL)));
        expect(verdicts.filter((v) => v.ok)).toHaveLength(10);
        expect(await stores[3]!.takeRateLimit('http:bot', 1, NO_REFILL)).toMatchObject({ ok: false });
      });
    } else {
      it('rate limit: each instance (each process) counts its own bucket, as the embedded store always has', async () => {
        const t = await setup();
        const [a, b] = [await t.open(), await t.open()];
        expect(await a.takeRateLimit('http:bot', 10, NO_REFILL)).toEqual({ ok: true });
        expect(await a.takeRateLimit('http:bot', 1, NO_REFILL)).toMatchObject({ ok: false });
        expect(await b.takeRateLimit('http:bot', 10, NO_REFILL)).toEqual({ ok: true });
      });
    }

    it('changes its change marker on a commit of another instance (at once, or as soon as its notice arrives), and not on reads', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const before = await b.changeMarker();
      await a.getApproval('x');
      await a.listApprovals();
      expect(await b.changeMarker()).toBe(before);
      await a.issueToken(token(), at(), 200);
      let after = await b.changeMarker();
      for (let i = 0; i < 100 && after === before; i++) {
        await new Promise((r) => setTimeout(r, 50));
        after = await b.changeMarker();
      }
      expect(after).not.toBe(before);
    });

    it('R-13: moves its secret-write marker when another instance publishes a secret write (at once, or as soon as its notice arrives), and not on state commits', async () => {
      const t = await setup();
      const [a, b] = [await t.open(), await t.open()];
      const before = await b.secretWriteMarker();
      // A state commit (a token) is not a secret write: read caches keep their entries. Waits
      // until b saw that commit (its change marker moved), then checks the secret-write marker.
      const changeBefore = await b.changeMarker();
      await a.issueToken(token(), at(), 200);
      for (let i = 0; i < 100 && (await b.changeMarker()) === changeBefore; i++) await new Promise((r) => setTimeout(r, 50));
      expect(await b.changeMarker()).not.toBe(changeBefore);
      expect(await b.secretWriteMarker()).toBe(before);
      for (let round = 0; round < 2; round++) {
        const seen = await b.secretWriteMarker();
        await a.publishSecretWrite();
        let after = await b.secretWriteMarker();
        for (let i = 0; i < 100 && after === seen; i++) {
          await new Promise((r) => setTimeout(r, 50));
          after = await b.secretWriteMarker();
        }
        expect(after, `round ${round}`).not.toBe(seen);
      }
    });
  });
}
