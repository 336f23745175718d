/**
 * Approval rules that ask for more than one human: `approvers: 2` needs two different admins
 * (one approve is not enough, the same admin twice is refused), and a `delay` keeps an
 * approved request pending until the delay passes, during which `approvals deny` cancels it.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  admin, adminJson, approvalIdOf, connectAgent, fails, initHome, ok, removeHome, runCli, type Home,
} from '../helpers/cli.js';
import { createTestClock } from '../helpers/test-clock.js';

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

describe('R-16: a new admin is a new approver', () => {
  it('with approvers: 2 and two admins, one admin alone cannot add a third (a sock puppet); with the other admin co-signing it can', async () => {
    const home = await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 2 } });
    homes.push(home);
    // Building the setup: the lone admin adds the second one (the audit says who added whom).
    const second = await adminJson<{ admin_key: string }>(home, ['admins', 'add', 'second']);
    const addAs = (id: string, env: Record<string, string>) => runCli(['--config', home.configPath, 'admins', 'add', id, '--json'], { env: { ASS_ADMIN_KEY: home.adminKey, ...env } });
    const config = () => readFileSync(home.configPath, 'utf8');

    const alone = await addAs('sockpuppet', {});
    expect(alone.code).not.toBe(0);
    expect(alone.stderr).toMatch(/Adding an admin needs 2 different admins: the policy asks for up to 2 approvers, and one admin must not create a co-approver alone\. Give 1 other admin's key in ASS_CO_ADMIN_KEYS/);
    expect(alone.stdout).not.toMatch(/ass_admin_/);
    // Their own key again is not a second admin; a wrong key is refused as such.
    const twice = await addAs('sockpuppet', { ASS_CO_ADMIN_KEYS: home.adminKey });
    expect(twice.code).not.toBe(0);
    expect(twice.stderr).toMatch(/needs 2 different admins.*\(0 given\)/);
    const wrong = await addAs('sockpuppet', { ASS_CO_ADMIN_KEYS: 'ass_admin_not-a-key' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/Unknown admin key/);
    expect(config()).not.toContain('sockpuppet');

    const cosigned = await addAs('third', { ASS_CO_ADMIN_KEYS: second.admin_key });
    expect(cosigned.code, cosigned.stderr).toBe(0);
    expect(JSON.parse(cosigned.stdout).admin_key).toMatch(/^ass_admin_/);
    expect(config()).toContain('third');
    const audit = readFileSync(path.join(path.dirname(home.configPath), 'audit.log'), 'utf8');
    expect(audit).toContain('admin third, co-signed by second');
  });
});

// The delays run on a test clock shared by the server and every CLI process (see
// src/server/test-clock.ts): time stands still while the humans act, and the test moves it to
// the exact instants that matter, so a slow CLI spawn cannot land outside the delay.
describe('critical: { effect: approval, delay: 4s }', () => {
  it('stays pending through the delay, up to its last millisecond, then is approved', async () => {
    const clock = createTestClock();
    const home = { ...(await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 1, delay: '4s' } })), env: clock.env };
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey, { env: clock.env });
    try {
      const write = { ...STRIPE, value: 'sk_delayed', access_tier: 'critical' };
      const id = approvalIdOf((await fails(conn.client, 'set_secret', write)).error);
      const approved = await admin(home, ['approvals', 'approve', id]);
      expect(approved.code, approved.stderr).toBe(0);
      expect(approved.stdout).toMatch(/takes effect at .* unless someone runs `approvals deny/);
      const during = await ok(conn.client, 'get_approval_status', { approval_id: id });
      expect(Date.parse(during.effective_at)).toBe(clock.now() + 4_000);
      expect(during.status).toBe('pending');
      expect(during.resolved_at).toBeNull();
      // Still refused during the delay (the same request, not a new one), to its last millisecond.
      expect(approvalIdOf((await fails(conn.client, 'set_secret', write)).error)).toBe(id);
      clock.set(Date.parse(during.effective_at) - 1);
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).status).toBe('pending');
      expect(approvalIdOf((await fails(conn.client, 'set_secret', write)).error)).toBe(id);
      clock.set(Date.parse(during.effective_at));
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).status).toBe('approved');
      expect((await ok(conn.client, 'set_secret', write)).version).toBe(1);
    } finally {
      await conn.close();
      clock.remove();
    }
  });
});

describe('critical: { effect: approval, delay: 20s }', () => {
  it('a deny during the delay cancels the approval, and it stays denied past the delay', async () => {
    const clock = createTestClock();
    const home = { ...(await initHome({ 'policy.tiers.critical': { effect: 'approval', approvers: 1, delay: '20s' } })), env: clock.env };
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey, { env: clock.env });
    try {
      // Seed the critical secret through the store's own CLI (a human write needs no approval).
      const seeded = await admin(home, ['secrets', 'set', STRIPE.namespace, STRIPE.key, '--tier', 'critical'], { input: 'sk_cancelled\n' });
      expect(seeded.code, seeded.stderr).toBe(0);
      const readId = approvalIdOf((await fails(conn.client, 'get_secret', STRIPE)).error);
      expect((await admin(home, ['approvals', 'approve', readId])).code).toBe(0);
      const readView = await ok(conn.client, 'get_approval_status', { approval_id: readId });
      expect(readView.status).toBe('pending');
      // The deny lands inside the delay by construction: the clock has not moved.
      clock.advance(19_999);
      const cancelled = await admin(home, ['approvals', 'deny', readId]);
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(clock.now()).toBeLessThan(Date.parse(readView.effective_at));
      // A cancellation is a human's no: within approvals.deny_cooldown the retry gets it again.
      const retry = await fails(conn.client, 'get_secret', STRIPE);
      expect(retry.code).toBe('POLICY_DENIED');
      expect(retry.error).toContain(`A human denied this request (approval ${readId})`);
      expect(retry.error).not.toContain('sk_cancelled');
      // At the end of the delay and past it, it stays denied: the cancelled grant never starts.
      for (const at of [Date.parse(readView.effective_at), Date.parse(readView.effective_at) + 1, Date.parse(readView.effective_at) + 3_600_000]) {
        clock.set(at);
        expect((await ok(conn.client, 'get_approval_status', { approval_id: readId })).status, new Date(at).toISOString()).toBe('denied');
      }
      // Past the cooldown, asking again opens a new request.
      const later = await fails(conn.client, 'get_secret', STRIPE);
      expect(approvalIdOf(later.error)).not.toBe(readId);
      expect(later.error).not.toContain('sk_cancelled');
    } finally {
      await conn.close();
      clock.remove();
    }
  });
});
