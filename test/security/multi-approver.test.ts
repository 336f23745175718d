/**
 * Approval rules that ask for more than one human: `approvers: 2` needs two different admins
 * (one approve is not enough, the same admin twice is refused), and a `delay` keeps an
 * approved request pending until the delay passes, during which `approvals deny` cancels it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import {
  admin, adminJson, approvalIdOf, connectAgent, fails, initHome, ok, pollUntil, removeHome, type Home,
} from '../helpers/cli.js';

const STRIPE = { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' };
const homes: Home[] = [];

afterAll(() => homes.forEach(removeHome));

describe('critical: { effect: approval, approvers: 2 }', () => {
  it('one approve is not enough, the same admin twice is refused, a second admin completes it', async () => {
    const home = await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 2 } });
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey);
    try {
      const write = { ...STRIPE, value: 'sk_two_admins', access_tier: 'critical' };
      const id = approvalIdOf((await fails(conn.client, 'set_secret', write)).error);
      expect(await ok(conn.client, 'get_approval_status', { approval_id: id })).toMatchObject({ status: 'pending', approvals_received: 0, approvals_required: 2 });

      const first = await admin(home, ['approvals', 'approve', id]);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/1\/2 approvers/);
      expect(await ok(conn.client, 'get_approval_status', { approval_id: id })).toMatchObject({ status: 'pending', approvals_received: 1, resolved_at: null });
      expect(approvalIdOf((await fails(conn.client, 'set_secret', write)).error)).toBe(id);

      const twice = await admin(home, ['approvals', 'approve', id]);
      expect(twice.code).not.toBe(0);
      expect(twice.stderr).toMatch(/Admin 'admin' already approved .* needs 2 different approvers/);
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).approvals_received).toBe(1);

      const second = await adminJson<{ admin_id: string; admin_key: string }>(home, ['admins', 'add', 'second']);
      expect(second.admin_key).toMatch(/^ass_admin_/);
      const completed = await admin(home, ['approvals', 'approve', id], { key: second.admin_key });
      expect(completed.code, completed.stderr).toBe(0);
      const status = await ok(conn.client, 'get_approval_status', { approval_id: id });
      expect(status).toMatchObject({ status: 'approved', approvals_received: 2, approvals_required: 2 });
      expect(status.resolved_at).toBeTruthy();
      expect((await ok(conn.client, 'set_secret', write)).version).toBe(1);

      // Both approvers are on record.
      const list = await adminJson<any[]>(home, ['approvals', 'list', '--all']);
      expect(list.find((r) => r.approval_id === id)?.status).toBe('approved');
      const verified = await admin(home, ['audit', 'verify']);
      expect(verified.code).toBe(0);
    } finally {
      await conn.close();
    }
  });
});

// The delays are generous on purpose: each human step below is a CLI process, which can take
// seconds on a loaded CI machine, and the cancel must land inside the delay to mean anything.
describe('critical: { effect: approval, delay: 4s }', () => {
  it('stays pending through the delay, then is approved', async () => {
    const home = await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 1, delay: '4s' } });
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey);
    try {
      const write = { ...STRIPE, value: 'sk_delayed', access_tier: 'critical' };
      const id = approvalIdOf((await fails(conn.client, 'set_secret', write)).error);
      const approved = await admin(home, ['approvals', 'approve', id]);
      expect(approved.code, approved.stderr).toBe(0);
      expect(approved.stdout).toMatch(/takes effect at .* unless someone runs `approvals deny/);
      const during = await ok(conn.client, 'get_approval_status', { approval_id: id });
      expect(Date.now(), 'the status check must run inside the delay').toBeLessThan(Date.parse(during.effective_at));
      expect(during.status).toBe('pending');
      expect(during.resolved_at).toBeNull();
      // Still refused during the delay (the same request, not a new one).
      expect(approvalIdOf((await fails(conn.client, 'set_secret', write)).error)).toBe(id);
      const effective = await pollUntil(async () => (await ok(conn.client, 'get_approval_status', { approval_id: id })).status === 'approved', 20_000, 250);
      expect(effective).toBe(true);
      expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(during.effective_at));
      expect((await ok(conn.client, 'set_secret', write)).version).toBe(1);
    } finally {
      await conn.close();
    }
  });
});

describe('critical: { effect: approval, delay: 20s }', () => {
  it('a deny during the delay cancels the approval, and it stays denied past the delay', async () => {
    const home = await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 1, delay: '20s' } });
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey);
    try {
      // Seed the critical secret through the store's own CLI (a human write needs no approval).
      const seeded = await admin(home, ['secrets', 'set', STRIPE.namespace, STRIPE.key, '--tier', 'critical'], { input: 'sk_cancelled\n' });
      expect(seeded.code, seeded.stderr).toBe(0);
      const readId = approvalIdOf((await fails(conn.client, 'get_secret', STRIPE)).error);
      expect((await admin(home, ['approvals', 'approve', readId])).code).toBe(0);
      const readView = await ok(conn.client, 'get_approval_status', { approval_id: readId });
      expect(readView.status).toBe('pending');
      const cancelled = await admin(home, ['approvals', 'deny', readId]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(Date.now(), 'the deny must land inside the delay').toBeLessThan(Date.parse(readView.effective_at));
      // Through and past the end of the delay it stays denied: the cancelled grant never starts.
      const seen = new Set<string>();
      const past = await pollUntil(async () => {
        seen.add((await ok(conn.client, 'get_approval_status', { approval_id: readId })).status);
        return Date.now() > Date.parse(readView.effective_at) + 300;
      }, 30_000, 500);
      expect(past).toBe(true);
      expect([...seen]).toEqual(['denied']);
      // A cancellation is a human's no: within approvals.deny_cooldown the retry gets it again.
      const retry = await fails(conn.client, 'get_secret', STRIPE);
      expect(retry.code).toBe('POLICY_DENIED');
      expect(retry.error).toContain(`A human denied this request (approval ${readId})`);
      expect(retry.error).not.toContain('sk_cancelled');
    } finally {
      await conn.close();
    }
  });
});
