import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { Approvals } from '../../src/approvals/approvals.js';
import { createFileStateStore } from '../../src/state/file-store.js';
import type { StateStore } from '../../src/state/store.js';
import { Tokens } from '../../src/approvals/tokens.js';

const MIN = 60_000;

/** An injected clock: tests move time, nothing sleeps. */
function fakeClock(start = Date.parse('2026-06-01T10:00:00Z')) {
  let now = start;
  return { clock: () => new Date(now), advance: (ms: number) => (now += ms) };
}

const request = (over: Partial<Parameters<Approvals['request']>[0]> = {}) => ({
  kind: 'secret_access' as const, agentId: 'bot', scopes: ['secrets:read:production/stripe/KEY'], ttlMs: 60 * MIN,
  reason: 'test', rule: 'tier:critical', approvers: 1, delayMs: 0, ...over,
});

describe('approvals', () => {
  let store: StateStore;
  let time: ReturnType<typeof fakeClock>;
  let approvals: Approvals;

  beforeEach(() => {
    time = fakeClock();
    store = createFileStateStore({ dir: join(mkdtempSync(join(tmpdir(), 'ass-approvals-')), 'state') });
    approvals = new Approvals(store, time.clock, 15 * MIN);
  });

  it('moves pending → approved, and the grant lasts its ttl', async () => {
    const { approval } = await approvals.request(request());
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('pending');
    expect(await approvals.activeGrantScopes('bot')).toEqual([]);
    time.advance(MIN);
    await approvals.approve(approval.id, 'alice');
    const view = await approvals.viewForAgent(approval.id, 'bot');
    expect(view).toMatchObject({ status: 'approved', resolved_at: '2026-06-01T10:01:00.000Z', expires_at: '2026-06-01T11:01:00.000Z' });
    expect(await approvals.activeGrantScopes('bot')).toEqual(['secrets:read:production/stripe/KEY']);
    time.advance(60 * MIN);
    expect(await approvals.activeGrantScopes('bot')).toEqual([]);
  });

  it('expires a pending request and never reports it as denied', async () => {
    const { approval } = await approvals.request(request());
    time.advance(15 * MIN);
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('expired');
    await expect(approvals.approve(approval.id, 'alice')).rejects.toMatchObject({ code: 'CONFLICT' });
    await expect(approvals.deny(approval.id, 'alice')).rejects.toThrow(/is expired/);
  });

  it('reuses the agent\'s pending request for the same binding only', async () => {
    const first = await approvals.request(request());
    expect((await approvals.request(request())).approval.id).toBe(first.approval.id);
    expect((await approvals.request(request({ ttlMs: 30 * MIN }))).approval.id).not.toBe(first.approval.id);
    expect((await approvals.request(request({ agentId: 'other' }))).approval.id).not.toBe(first.approval.id);
    expect((await approvals.request(request({ scopes: ['secrets:read:production/stripe/OTHER'] }))).approval.id).not.toBe(first.approval.id);
  });

  it('hides another agent\'s approvals as if they did not exist', async () => {
    const { approval } = await approvals.request(request());
    await expect(approvals.viewForAgent(approval.id, 'intruder')).rejects.toMatchObject({ code: 'APPROVAL_NOT_FOUND' });
  });

  it('denies, and a denial is final', async () => {
    const { approval } = await approvals.request(request());
    await approvals.deny(approval.id, 'alice');
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('denied');
    await expect(approvals.approve(approval.id, 'bob')).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await approvals.request(request())).approval.id).not.toBe(approval.id);
  });

  it('needs N distinct approvers and honours a cancellable delay', async () => {
    const { approval } = await approvals.request(request({ approvers: 2, delayMs: 5 * MIN }));
    await approvals.approve(approval.id, 'alice');
    await expect(approvals.approve(approval.id, 'alice')).rejects.toThrow(/already approved/);
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('pending');
    await approvals.approve(approval.id, 'bob');
    const during = await approvals.viewForAgent(approval.id, 'bot');
    expect(during).toMatchObject({ status: 'pending', approvals_received: 2, approvals_required: 2, effective_at: '2026-06-01T10:05:00.000Z' });
    expect(await approvals.activeGrantScopes('bot')).toEqual([]);
    time.advance(5 * MIN);
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('approved');
    expect(await approvals.activeGrantScopes('bot')).toHaveLength(1);
  });

  it('lets a human cancel during the delay', async () => {
    const { approval } = await approvals.request(request({ delayMs: 5 * MIN }));
    await approvals.approve(approval.id, 'alice');
    time.advance(2 * MIN);
    await approvals.deny(approval.id, 'bob');
    time.advance(10 * MIN);
    expect((await approvals.viewForAgent(approval.id, 'bot')).status).toBe('denied');
    expect(await approvals.activeGrantScopes('bot')).toEqual([]);
  });

  it('redeems a token approval exactly once among 20 concurrent callers', async () => {
    const tokens = new Tokens(store, time.clock, new Uint8Array(32).fill(7), 'test');
    const { approval } = await approvals.request(request({ kind: 'token' }));
    await approvals.approve(approval.id, 'alice');
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        approvals.redeemTokenApproval('bot', ['secrets:read:production/stripe/KEY'], 60 * MIN, undefined, 200, (a) => tokens.newRecord({ agentId: 'bot', scopes: a.scopes, ttlMs: a.ttl_ms, approvalId: a.id })),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await store.listTokens()).toHaveLength(1);
  });
});

describe('tokens', () => {
  it('verifies signature, expiry, revocation and use counts', async () => {
    const time = fakeClock();
    const store = createFileStateStore({ dir: join(mkdtempSync(join(tmpdir(), 'ass-tokens-')), 'state') });
    const tokens = new Tokens(store, time.clock, new Uint8Array(32).fill(1), 'test');
    const issued = await tokens.issue({ agentId: 'bot', scopes: ['secrets:read:a/*'], ttlMs: 10 * MIN, maxUses: 2 });
    expect(await tokens.verify(issued.token)).toMatchObject({ agent_id: 'bot', scopes: ['secrets:read:a/*'], uses: 0 });
    await tokens.consumeUse(issued.token_id);
    await tokens.consumeUse(issued.token_id);
    await expect(tokens.consumeUse(issued.token_id)).rejects.toThrow(/used its 2 allowed times/);
    await expect(tokens.verify(issued.token)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });

    const other = await tokens.issue({ agentId: 'bot', scopes: ['secrets:read:a/*'], ttlMs: 10 * MIN });
    const forged = new Tokens(store, time.clock, new Uint8Array(32).fill(2), 'test');
    await expect(forged.verify(other.token)).rejects.toThrow(/not valid/);
    const [h, p, s] = other.token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), scope: 'secrets:*:**' })).toString('base64url')}.${s}`;
    await expect(tokens.verify(tampered)).rejects.toThrow(/not valid/);
    time.advance(11 * MIN);
    await expect(tokens.verify(other.token)).rejects.toThrow(/expired/);
  });
});

describe('state retention', () => {
  it('drops what lapsed unanswered within an hour, expired tokens at the next prune, human decisions after 7 days, and keeps the rest', async () => {
    const time = fakeClock();
    const store = createFileStateStore({ dir: join(mkdtempSync(join(tmpdir(), 'ass-prune-')), 'state') });
    const approvals = new Approvals(store, time.clock, 15 * MIN);
    const tokens = new Tokens(store, time.clock, new Uint8Array(32).fill(3), 'test');
    const ids = async (what: 'approvals' | 'tokens') => (what === 'approvals' ? await store.listApprovals() : await store.listTokens()).map((r) => r.id).sort();
    const denied = (await approvals.request(request({ scopes: ['secrets:read:a/DENIED'] }))).approval.id;
    await approvals.deny(denied, 'alice');
    const lapsed = (await approvals.request(request({ scopes: ['secrets:read:a/LAPSED'] }))).approval.id;
    const shortToken = await tokens.issue({ agentId: 'bot', scopes: ['secrets:read:a/*'], ttlMs: 10 * MIN });
    // Within the hour after lapsing, the request is still there (status: expired); the token is
    // kept while it lives and goes at the first write after it expired.
    time.advance(10 * MIN - 1);
    await store.prune(time.clock());
    expect(await ids('tokens')).toEqual([shortToken.token_id]);
    time.advance(30 * MIN - 10 * MIN + 1);
    await store.prune(time.clock());
    expect(await ids('approvals')).toEqual([denied, lapsed].sort());
    expect(await ids('tokens')).toEqual([]);
    time.advance(60 * MIN);
    const fresh = (await approvals.request(request({ scopes: ['secrets:read:a/FRESH'] }))).approval.id;
    const longToken = await tokens.issue({ agentId: 'bot', scopes: ['secrets:read:a/*'], ttlMs: 24 * 60 * MIN });
    expect(await ids('approvals')).toEqual([denied, fresh].sort());
    expect(await ids('tokens')).toEqual([longToken.token_id]);
    // A human's denial is kept for 7 days; the fresh request lapses and goes an hour later.
    time.advance(7 * 24 * 60 * MIN - 90 * MIN - 1);
    await store.prune(time.clock());
    expect(await ids('approvals')).toEqual([denied]);
    expect(await ids('tokens')).toEqual([]);
    time.advance(2);
    await store.prune(time.clock());
    expect(await ids('approvals')).toEqual([]);
  });

  it('hands out frozen records, so a reader cannot change the shared state', async () => {
    const time = fakeClock();
    const store = createFileStateStore({ dir: join(mkdtempSync(join(tmpdir(), 'ass-frozen-')), 'state') });
    const tokens = new Tokens(store, time.clock, new Uint8Array(32).fill(4), 'test');
    const issued = await tokens.issue({ agentId: 'bot', scopes: ['secrets:read:a/*'], ttlMs: 10 * MIN, maxUses: 1 });
    const record = (await store.getToken(issued.token_id))!;
    expect(() => {
      (record as { uses: number }).uses = -100;
    }).toThrow(TypeError);
    await tokens.consumeUse(issued.token_id);
    await expect(tokens.consumeUse(issued.token_id)).rejects.toThrow(/used its 1 allowed times/);
  });
});
