/**
 * What an agent may say and how often it may ask, in-process with a real SDK client and an
 * injected clock: the optional `reason` (stored for the human, bounded, on both tools), the
 * deny cooldown (a denied request asked again gets the denial, not a new request), and the
 * deep links in the answers (APPROVAL_REQUIRED, get_approval_status, request_token, delete).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { humanStatus } from '../../src/server/approval-details.js';
import { decideApproval } from '../../src/server/human-decisions.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';

const DASHBOARD = 'https://ass.example.test/dashboard';
let env: InProcess | undefined;

afterEach(async () => {
  await env?.close();
  env = undefined;
});

async function setup(extraYaml = ''): Promise<InProcess> {
  env = await startInProcess({ agentYaml: '    grants: ["secrets:*:prod/**"]', extraYaml: `dashboard: { public_url: "${DASHBOARD}/" }\n${extraYaml}` });
  for (const key of ['A', 'B']) await env.runtime.backend.put({ namespace: 'prod/pay', key, value: `v-${key}`, secret_type: 'api_key', access_tier: 'critical', metadata: {} });
  return env;
}

async function tool(name: string, args: Record<string, unknown>) {
  const result = await env!.client.callTool({ name, arguments: args });
  const text = (result.content as { text?: string }[]).map((c) => c.text ?? '').join('');
  const meta = (result._meta as Record<string, { code?: string; approval_id?: string; approval_url?: string }> | undefined)?.['agent-secret-store/error'];
  return { isError: Boolean(result.isError), text, meta, data: result.structuredContent as any };
}

describe('the agent\'s reason', () => {
  it('is kept with the approval request of get_secret and of request_token', async () => {
    await setup();
    const got = await tool('get_secret', { namespace: 'prod/pay', key: 'A', reason: 'Refund ticket #4411' });
    expect(got.meta?.code).toBe('APPROVAL_REQUIRED');
    const token = await tool('request_token', { scopes: ['secrets:read:other/x'], reason: 'Nightly export' });
    expect(token.data).toMatchObject({ requires_approval: true });
    const records = (await env!.runtime.approvals.list()).map(({ approval }) => approval);
    expect(records.find((a) => a.id === got.meta!.approval_id)?.agent_reason).toBe('Refund ticket #4411');
    expect(records.find((a) => a.id === token.data.approval_id)?.agent_reason).toBe('Nightly export');
  });

  it('is optional, and beyond 500 characters refused with a clear error and no request', async () => {
    await setup();
    const long = await tool('get_secret', { namespace: 'prod/pay', key: 'A', reason: 'x'.repeat(501) });
    expect(long.isError).toBe(true);
    expect(long.text).toContain('reason is at most 500 characters');
    const tokenLong = await tool('request_token', { scopes: ['secrets:read:other/x'], reason: 'y'.repeat(501) });
    expect(tokenLong.text).toContain('reason is at most 500 characters');
    expect(await env!.runtime.approvals.list()).toHaveLength(0);
    const exactly = await tool('get_secret', { namespace: 'prod/pay', key: 'A', reason: 'z'.repeat(500) });
    expect(exactly.meta?.code).toBe('APPROVAL_REQUIRED');
    const none = await tool('get_secret', { namespace: 'prod/pay', key: 'B' });
    expect(none.meta?.code).toBe('APPROVAL_REQUIRED');
  });
});

describe('deny cooldown (approvals.deny_cooldown, default 10m)', () => {
  it('a denied request asked again within the cooldown gets the denial again, saying when it may ask; after it, a new request', async () => {
    await setup();
    const first = await tool('get_secret', { namespace: 'prod/pay', key: 'A' });
    const id = first.meta!.approval_id!;
    await decideApproval(env!.runtime, { verb: 'deny', id, adminId: 'admin', via: 'cli' });
    env!.advance(60_000);
    const again = await tool('get_secret', { namespace: 'prod/pay', key: 'A', reason: 'please, it is urgent' });
    expect(again.meta?.code).toBe('POLICY_DENIED');
    expect(again.text).toContain(`A human denied this request (approval ${id})`);
    expect(again.text).toContain('refused until 2026-06-01T10:10:00.000Z (in 9m)');
    expect(await env!.runtime.approvals.list()).toHaveLength(1);
    // A token beyond the grants, denied, then asked again with another ttl and max_uses: refused too.
    const token = await tool('request_token', { scopes: ['secrets:read:other/x'], ttl: '1h' });
    await decideApproval(env!.runtime, { verb: 'deny', id: token.data.approval_id, adminId: 'admin', via: 'cli' });
    const tokenAgain = await tool('request_token', { scopes: ['secrets:read:other/x'], ttl: '15m', max_uses: 1 });
    expect(tokenAgain.meta?.code).toBe('POLICY_DENIED');
    expect(await env!.runtime.approvals.list()).toHaveLength(2);
    // Another secret is another request.
    expect((await tool('get_secret', { namespace: 'prod/pay', key: 'B' })).meta?.code).toBe('APPROVAL_REQUIRED');
    env!.advance(9 * 60_000);
    // Exactly at the end of the cooldown it may ask again.
    const later = await tool('get_secret', { namespace: 'prod/pay', key: 'A' });
    expect(later.meta?.code).toBe('APPROVAL_REQUIRED');
    expect(later.meta?.approval_id).not.toBe(id);
  });

  it('0 turns it off', async () => {
    await setup('approvals: { deny_cooldown: 0 }');
    const first = await tool('get_secret', { namespace: 'prod/pay', key: 'A' });
    await decideApproval(env!.runtime, { verb: 'deny', id: first.meta!.approval_id!, adminId: 'admin', via: 'cli' });
    expect((await tool('get_secret', { namespace: 'prod/pay', key: 'A' })).meta?.code).toBe('APPROVAL_REQUIRED');
  });

  it('an expired request leaves the pending view at once, and a cancelled one shows as cancelled', async () => {
    await setup('policy:\n  namespaces:\n    - pattern: "prod/**"\n      tiers:\n        critical: { effect: approval, delay: 5m }');
    const a = (await tool('get_secret', { namespace: 'prod/pay', key: 'A' })).meta!.approval_id!;
    await decideApproval(env!.runtime, { verb: 'approve', id: a, adminId: 'admin', via: 'cli' });
    await decideApproval(env!.runtime, { verb: 'deny', id: a, adminId: 'admin', via: 'cli' });
    const b = (await tool('get_secret', { namespace: 'prod/pay', key: 'B' })).meta!.approval_id!;
    const statuses = async () => Object.fromEntries((await env!.runtime.approvals.list()).map(({ approval }) => [approval.id, humanStatus(approval, env!.runtime.clock())]));
    expect(await statuses()).toEqual({ [a]: 'cancelled', [b]: 'pending' });
    env!.advance(15 * 60_000);
    expect(await statuses()).toEqual({ [a]: 'cancelled', [b]: 'expired' });
  });
});

describe('deep links in the agent\'s answers', () => {
  it('APPROVAL_REQUIRED, get_approval_status and request_token point at the request\'s page; delete at the secret\'s', async () => {
    await setup();
    const got = await tool('get_secret', { namespace: 'prod/pay', key: 'A' });
    const id = got.meta!.approval_id!;
    const page = `${DASHBOARD}/approvals/${id}`;
    expect(got.text).toMatch(/^Error: Human approval required\. Approval ID: [0-9a-f-]{36}\. Use get_approval_status/);
    expect(got.text).toContain(`A human approves at ${page} or with \`agent-secret-store --config `);
    expect(got.text).toContain(` approvals approve ${id}\``);
    expect(got.meta?.approval_url).toBe(page);
    const status = await tool('get_approval_status', { approval_id: id });
    expect(status.data).toMatchObject({ status: 'pending', approval_url: page });
    const token = await tool('request_token', { scopes: ['secrets:read:other/x'] });
    expect(token.data.approval_url).toBe(`${DASHBOARD}/approvals/${token.data.approval_id}`);
    const del = await tool('delete_secret', { namespace: 'prod/pay', key: 'A' });
    expect(del.data.message).toContain(`the dashboard at ${DASHBOARD}/secrets/prod/pay/A`);
    expect(del.data.message).toMatch(/Use `agent-secret-store --config \S+ secrets delete prod\/pay A`/);
    // Once decided, there is nothing left to do on the page: the link is not offered.
    await decideApproval(env!.runtime, { verb: 'approve', id, adminId: 'admin', via: 'cli' });
    expect((await tool('get_approval_status', { approval_id: id })).data.approval_url).toBeUndefined();
  });
});
