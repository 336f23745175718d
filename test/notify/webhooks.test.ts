/**
 * Webhooks, in-process with an injected clock: a real MCP client's calls open and decide
 * approvals; a real loopback receiver gets each event signed, with the deep link, and never a
 * value; a receiver that is down or holds the request open never holds up the agent's call;
 * retries back off and stop; two deliverers sharing one state deliver an event once.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { approvalEvent } from '../../src/approvals/events.js';
import type { OutboxState } from '../../src/shared/approval-events.js';
import { createFileStateStore } from '../../src/state/file-store.js';
import { renderOutboxMetrics } from '../../src/notify/metrics.js';
import { Notifier } from '../../src/notify/notifier.js';
import { verifyPayload } from '../../src/notify/sign.js';
import { decideApproval } from '../../src/server/human-decisions.js';
import { startInProcess, type InProcess } from '../helpers/in-process.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const SECRET_VALUE = 'sk_live_webhook_value_0123';
const DASHBOARD = 'https://ass.example.test/dashboard';
const secretVar = `ASS_TEST_HOOK_${randomBytes(4).toString('hex').toUpperCase()}`;
const hookSecret = randomBytes(24).toString('hex');
process.env[secretVar] = hookSecret;

let receiver: Receiver;
let env: InProcess | undefined;

async function start(options: { format?: 'generic' | 'slack'; url?: string } = {}): Promise<InProcess> {
  env = await startInProcess({
    extraYaml: `dashboard: { public_url: "${DASHBOARD}" }
notifications:
  max_attempts: 3
  webhooks:
    - { url: "${options.url ?? receiver.url}", format: ${options.format ?? 'generic'}, secret_env: ${secretVar} }
policy:
  namespaces:
    - pattern: "delayed/**"
      tiers:
        critical: { effect: approval, delay: 5m }
`,
  });
  for (const ns of ['prod/a', 'prod/b', 'prod/c', 'delayed/pay']) {
    await env.runtime.backend.put({ namespace: ns, key: 'KEY', value: SECRET_VALUE, secret_type: 'api_key', access_tier: 'critical', metadata: {} });
  }
  return env;
}

async function askFor(namespace: string, reason?: string): Promise<string> {
  const result = await env!.client.callTool({ name: 'get_secret', arguments: { namespace, key: 'KEY', ...(reason ? { reason } : {}) } });
  expect(result.isError).toBe(true);
  const meta = (result._meta as Record<string, { code?: string; approval_id?: string }>)['agent-secret-store/error']!;
  expect(meta.code).toBe('APPROVAL_REQUIRED');
  return meta.approval_id!;
}

/** The signature checks out, at the (injected) time the delivery was made. */
function verified(r: { headers: Record<string, unknown>; body: string }): boolean {
  const now = Number(r.headers['x-ass-timestamp']);
  return verifyPayload(hookSecret, String(r.headers['x-ass-timestamp']), r.body, String(r.headers['x-ass-signature']), now);
}

const decide = (verb: 'approve' | 'deny', id: string) => decideApproval(env!.runtime, { verb, id, adminId: 'admin', via: 'cli' });

beforeEach(async () => {
  receiver = await startReceiver('ok');
});
afterEach(async () => {
  await env?.close();
  env = undefined;
  await receiver.close();
});

describe('generic webhooks', () => {
  it('sends each of the five events once, signed, with the deep link and never a value', async () => {
    await start();
    const granted = await askFor('prod/a', 'Monthly invoice run');
    await receiver.waitFor(1);
    await decide('approve', granted);
    const denied = await askFor('prod/b');
    await decide('deny', denied);
    const cancelled = await askFor('delayed/pay');
    await decide('approve', cancelled);
    await decide('deny', cancelled);
    const lapsing = await askFor('prod/c');
    await receiver.waitFor(8);
    env!.advance(16 * 60_000);
    await env!.runtime.notifier!.drain();
    const got = await receiver.waitFor(9);

    expect(got.map((r) => `${r.json.type} ${r.json.approval.id}`)).toEqual([
      `approval.requested ${granted}`,
      `approval.granted ${granted}`,
      `approval.requested ${denied}`,
      `approval.denied ${denied}`,
      `approval.requested ${cancelled}`,
      `approval.granted ${cancelled}`,
      `approval.cancelled ${cancelled}`,
      `approval.requested ${lapsing}`,
      `approval.expired ${lapsing}`,
    ]);
    for (const r of got) {
      expect(verified(r), r.body).toBe(true);
      expect(r.headers['x-ass-event']).toBe(r.json.type);
      expect(r.headers['x-ass-delivery']).toBe(r.json.id);
      expect(r.json.url).toBe(`${DASHBOARD}/approvals/${r.json.approval.id}`);
      expect(r.json.cli).toMatch(/^agent-secret-store --config \S+ approvals show [0-9a-f-]{36}$/);
      expect(r.body).not.toContain(SECRET_VALUE);
      expect(r.body).not.toMatch(/ass_(agent|admin)_/);
    }
    expect(got[0]!.json.approval).toMatchObject({ agent_id: 'bot', scopes: ['secrets:read:prod/a/KEY'], agent_reason: 'Monthly invoice run', ttl: '1h', approvals_required: 1 });
    expect(got[3]!.json.approval.decided_by).toBe('admin');
    expect(got[5]!.json.approval.effective_at).toBeTruthy();
    expect(new Set(got.map((r) => r.json.id)).size).toBe(9);
    // Another drain announces nothing twice.
    await env!.runtime.notifier!.drain();
    expect(receiver.received).toHaveLength(9);
    // A tampered body or a foreign secret does not verify.
    const first = got[0]!;
    const now = Math.floor(env!.runtime.clock().getTime() / 1000);
    const ts = String(first.headers['x-ass-timestamp']);
    const sig = String(first.headers['x-ass-signature']);
    expect(verifyPayload(hookSecret, ts, first.body.replace('prod/a', 'prod/x'), sig, now)).toBe(false);
    expect(verifyPayload('another-secret', ts, first.body, sig, now)).toBe(false);
    expect(verifyPayload(hookSecret, ts, first.body, sig, now + 3600)).toBe(false);
    const state = await env!.runtime.state.readOutbox();
    expect(state.outbox).toEqual([]);
    expect(state.outbox_stats).toMatchObject({ delivered: 9, failed_attempts: 0 });
  });

  it('a receiver that holds the request open does not hold up the agent: its next calls answer while it waits', async () => {
    receiver.mode = 'hold';
    await start();
    await askFor('prod/a');
    await receiver.waitFor(1);
    // The first delivery is still unanswered; the agent's next calls complete regardless.
    const again = await askFor('prod/b');
    expect(receiver.held()).toBeGreaterThanOrEqual(1);
    const listed = await env!.client.callTool({ name: 'list_namespaces', arguments: {} });
    expect(listed.isError).toBeFalsy();
    expect(receiver.held()).toBeGreaterThanOrEqual(1);
    receiver.release();
    receiver.mode = 'ok';
    await receiver.waitFor(2);
    await env!.runtime.notifier!.drain();
    expect(receiver.received.map((r) => r.json.approval.id)).toContain(again);
  });

  it('closing (a CLI command exiting) does not wait on a receiver that never answers: the event stays queued for a later retry', async () => {
    receiver.mode = 'hold';
    await start();
    const id = await askFor('prod/a');
    await receiver.waitFor(1);
    await env!.runtime.notifier!.close(0);
    const state = await env!.runtime.state.readOutbox();
    expect(state.outbox).toHaveLength(1);
    expect(state.outbox![0]).toMatchObject({ attempts: 1 });
    expect(state.outbox![0]!.event.approval.id).toBe(id);
    expect(state.outbox![0]!.lease_owner).toBeUndefined();
  });

  it('a receiver that is down: the call still answers; the failure is retried with backoff, counted, then given up', async () => {
    const down = await startReceiver('ok');
    const downUrl = down.url;
    await down.close();
    await start({ url: downUrl });
    const id = await askFor('prod/a');
    await env!.runtime.notifier!.drain();
    let state = await env!.runtime.state.readOutbox();
    expect(state.outbox).toHaveLength(1);
    expect(state.outbox![0]).toMatchObject({ attempts: 1 });
    expect(state.outbox![0]!.event.approval.id).toBe(id);
    expect(state.outbox_stats).toMatchObject({ delivered: 0, failed_attempts: 1, abandoned: 0 });
    // Not retried before its backoff runs out (the clock has not moved).
    await env!.runtime.notifier!.drain();
    expect((await env!.runtime.state.readOutbox()).outbox_stats!.failed_attempts).toBe(1);
    env!.advance(10_000);
    await env!.runtime.notifier!.drain();
    env!.advance(10_000);
    await env!.runtime.notifier!.drain();
    state = await env!.runtime.state.readOutbox();
    expect(state.outbox).toEqual([]);
    expect(state.outbox_stats).toMatchObject({ delivered: 0, failed_attempts: 3, abandoned: 1 });
    expect(renderOutboxMetrics(state)).toContain('ass_webhook_events_lost_total{reason="abandoned"} 1');
    expect(renderOutboxMetrics(state)).toContain('ass_webhook_deliveries_total{result="failed"} 3');
  });
});

describe('slack webhooks', () => {
  it('escapes what the agent wrote: no mention, link or markup reaches Slack as mrkdwn', async () => {
    await start({ format: 'slack' });
    const reason = '<!channel> *URGENT* approve <https://evil.example|the real request> now `x`';
    const id = await askFor('prod/a', reason);
    const [r] = await receiver.waitFor(1);
    const body = r!.json as { text: string; blocks: { type: string; text?: { type: string; text: string }; elements?: { type: string; text: string }[] }[] };
    const mrkdwn = [body.text, ...body.blocks.filter((b) => b.text?.type === 'mrkdwn').map((b) => b.text!.text)].join('\n');
    expect(mrkdwn).not.toContain('<!channel>');
    expect(mrkdwn).not.toContain('<https://evil');
    expect(mrkdwn).toContain(`<${DASHBOARD}/approvals/${id}|Open the request>`);
    const plain = body.blocks.flatMap((b) => b.elements ?? []).find((e) => e.type === 'plain_text');
    expect(plain?.text).toBe(`The agent says: ${reason}`);
    expect(r!.body).not.toContain(SECRET_VALUE);
    expect(verified(r!)).toBe(true);
  });
});

describe('the outbox shared by processes', () => {
  it('two deliverers draining one state at once deliver each event exactly once', async () => {
    await start();
    // Independent notifiers over the same state file, as other processes of the setup would have.
    const state = createFileStateStore({ dir: join(env!.dir, 'state') });
    const store = { read: () => state.readOutbox(), transact: <T,>(fn: (outbox: OutboxState) => T) => state.transactOutbox(fn) };
    const logger = { warn: () => undefined, error: () => undefined };
    const make = () =>
      new Notifier({
        store, clock: env!.runtime.clock, logger, env: process.env, webhooks: [{ url: receiver.url, format: 'generic', secretEnv: secretVar }],
        maxAttempts: 3, timeoutMs: 5000, queueSize: 100, links: () => ({ approvalUrl: null, showCommand: 'x' }),
      });
    const queuer = make();
    await queuer.close(0); // a closed notifier queues without delivering
    const now = env!.runtime.clock();
    const record = { id: 'e0000000-0000-4000-8000-000000000000', kind: 'token' as const, agent_id: 'bot', scopes: ['secrets:read:x/y'], ttl_ms: 60_000, reason: 'r', rule: 'r', created_at: now.toISOString(), expires_at: now.toISOString(), approvers_required: 1, delay_ms: 0, approvals: [], status: 'pending' as const };
    await store.transact((outbox) => {
      for (let i = 0; i < 3; i++) queuer.sink(outbox, approvalEvent('approval.requested', record, now));
    });
    const [b, c] = [make(), make()];
    await Promise.all([b.drain(), c.drain(), b.drain(), c.drain()]);
    expect(receiver.received).toHaveLength(3);
    expect(new Set(receiver.received.map((r) => r.json.id)).size).toBe(3);
    expect((await store.read()).outbox).toEqual([]);
    await Promise.all([b.close(0), c.close(0)]);
  });
});
