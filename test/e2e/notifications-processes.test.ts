/**
 * Webhooks across real processes, as a setup runs them: the agent's stdio server opens the
 * request (and delivers `approval.requested`), a CLI process that exits at once decides it (and
 * delivers `approval.granted` before exiting), and a request nobody answers is announced as
 * `approval.expired` by the running server's timer. Each arrives once, signed, with the link.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyPayload } from '../../src/notify/sign.js';
import { admin, approvalIdOf, connectAgent, fails, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver.js';

const VAR = 'ASS_E2E_WEBHOOK_SECRET';
const secret = randomBytes(24).toString('hex');
const VALUE = 'sk_live_e2e_webhook_4242';
const DASHBOARD = 'https://secrets.example.test/dashboard';
let receiver: Receiver;
let home: Home;
let agent: AgentConnection;

beforeAll(async () => {
  receiver = await startReceiver('ok');
  home = {
    ...(await initHome({
      'approvals.pending_ttl': '20s',
      dashboard: { public_url: DASHBOARD },
      notifications: { webhooks: [{ url: receiver.url, format: 'generic', secret_env: VAR }] },
    })),
    env: { [VAR]: secret },
  };
  for (const key of ['PAID', 'IGNORED']) {
    const seeded = await admin(home, ['secrets', 'set', 'prod/pay', key, '--tier', 'critical'], { input: VALUE });
    expect(seeded.code, seeded.stderr).toBe(0);
  }
  agent = await connectAgent(home.configPath, home.agentKey, { env: home.env });
}, 120_000);

afterAll(async () => {
  await agent?.close();
  await receiver?.close();
  removeHome(home);
});

const ofType = (type: string, id: string) => receiver.received.filter((r) => r.json?.type === type && r.json.approval.id === id);

describe('webhooks from the processes of one setup', () => {
  it('requested by the stdio server, granted by the exiting CLI, expired by the server\'s timer; once each, signed, linked', async () => {
    const id = approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'PAID', reason: 'quarterly close' })).error);
    await receiver.waitFor(1);
    expect(ofType('approval.requested', id)).toHaveLength(1);

    const approved = await admin(home, ['approvals', 'approve', id]);
    expect(approved.code, approved.stderr).toBe(0);
    // The CLI process has exited: it delivered its event before it did.
    expect(ofType('approval.granted', id)).toHaveLength(1);
    expect((await ok(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'PAID' })).value).toBe(VALUE);

    const lapsing = approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'IGNORED' })).error);
    // Nobody answers; the running stdio server notices the lapse and announces it.
    await new Promise<void>((resolve) => {
      const check = () => (ofType('approval.expired', lapsing).length > 0 ? resolve() : setTimeout(check, 200));
      check();
    });

    expect(receiver.received.map((r) => r.json.type)).toEqual(['approval.requested', 'approval.granted', 'approval.requested', 'approval.expired']);
    for (const r of receiver.received) {
      expect(verifyPayload(secret, String(r.headers['x-ass-timestamp']), r.body, String(r.headers['x-ass-signature']), Math.floor(Date.now() / 1000))).toBe(true);
      expect(r.json.url).toBe(`${DASHBOARD}/approvals/${r.json.approval.id}`);
      expect(r.body).not.toContain(VALUE);
      expect(r.body).not.toContain(home.agentKey);
      expect(r.body).not.toContain(home.adminKey);
    }
    expect(receiver.received[0]!.json.approval.agent_reason).toBe('quarterly close');
    expect(receiver.received[1]!.json.approval.decided_by).toBe('admin');
    expect(agent.stderr()).not.toContain(VALUE);
  }, 120_000);
});
