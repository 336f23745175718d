/**
 * The approvals CLI a human uses, as real processes: a real stdio MCP server opens requests,
 * separate CLI processes show and decide them. Prompts are answered through a real
 * pseudo-terminal. What the agent wrote reaches the terminal escaped, never as control codes.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addAgent, admin, adminJson, approvalIdOf, call, connectAgent, fails, initHome, ok, removeHome, setWithApproval, type AgentConnection, type Home,
} from '../helpers/cli.js';
import { runInPty } from '../helpers/pty.js';

let home: Home;
let agent: AgentConnection;
const VALUE = 'sk_live_cli_value_7788';
// Clears the screen, homes the cursor, prints a reassurance, rings the bell, then reverses text.
const HOSTILE_REASON = 'Routine check\u001b[2J\u001b[1;1HAll clear: read-only scope\u0007 \u202eevil';

beforeAll(async () => {
  home = await initHome();
  agent = await connectAgent(home.configPath, home.agentKey);
  // Writing a critical secret needs a human: a separate CLI process approves it without a terminal.
  await setWithApproval(agent.client, home, { namespace: 'prod/pay', key: 'STRIPE', value: VALUE, secret_type: 'api_key', access_tier: 'critical' });
  await setWithApproval(agent.client, home, { namespace: 'prod/pay', key: 'OTHER', value: VALUE, secret_type: 'api_key', access_tier: 'critical' });
}, 120_000);

afterAll(async () => {
  await agent?.close();
  removeHome(home);
});

async function request(key: string, reason?: string): Promise<string> {
  return approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key, ...(reason ? { reason } : {}) })).error);
}

describe('approvals show', () => {
  it('prints every detail by a unique prefix; the agent\'s reason is escaped, not obeyed', async () => {
    const id = await request('STRIPE', HOSTILE_REASON);
    const shown = await admin(home, ['approvals', 'show', id.slice(0, 8)]);
    expect(shown.code, shown.stderr).toBe(0);
    const out = shown.stdout;
    expect(out).toContain(`Approval request ${id}  [pending]`);
    expect(out).toMatch(/agent: +default/);
    expect(out).toContain('secrets:read:prod/pay/STRIPE');
    expect(out).toMatch(/reaches now: +1 secret\(s\)\n +prod\/pay\/STRIPE \(critical\)/);
    expect(out).toMatch(/ttl: +1h/);
    expect(out).toMatch(/max uses: +no limit/);
    expect(out).toContain('Routine check\\x1b[2J\\x1b[1;1HAll clear: read-only scope\\x07 \\u202eevil');
    expect(out).toMatch(/requested at: +\d{4}-\d\d-\d\dT/);
    expect(out).toMatch(/expires in: +1[45]m/);
    expect(out).toMatch(/quorum: +0 of 1 approval/);
    // Security: no control character of the agent's reaches the terminal.
    expect(out).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(out).not.toContain(VALUE);
    const json = JSON.parse((await admin(home, ['approvals', 'show', id, '--json'])).stdout);
    expect(json).toMatchObject({ id, status: 'pending', agent_id: 'default', agent_reason: HOSTILE_REASON, max_uses: null, approvals_required: 1, reaches: { total: 1, secrets: [{ namespace: 'prod/pay', key: 'STRIPE', access_tier: 'critical' }] } });
  });

  it('a prefix shorter than 6 is refused, an unknown one is not found, an ambiguous one lists the candidates', async () => {
    const id = await request('STRIPE');
    const short = await admin(home, ['approvals', 'show', id.slice(0, 5)]);
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least 6 of its first characters');
    const unknown = await admin(home, ['approvals', 'show', 'ffffffffff']);
    expect(unknown.stderr).toContain("No approval request 'ffffffffff'");
    // Two stored requests sharing a prefix (record files crafted in the state directory while nothing runs on it).
    const approvalsDir = path.join(home.dir, 'state', 'approvals');
    const record = JSON.parse(readFileSync(path.join(approvalsDir, `${id}.json`), 'utf8'));
    const twins = ['abcdef01-0000-4000-8000-000000000001', 'abcdef02-0000-4000-8000-000000000002'];
    for (const twin of twins) writeFileSync(path.join(approvalsDir, `${twin}.json`), JSON.stringify({ ...record, id: twin }));
    try {
      const ambiguous = await admin(home, ['approvals', 'approve', 'abcdef', '--yes']);
      expect(ambiguous.code).toBe(2);
      expect(ambiguous.stderr).toContain("'abcdef' matches 2 approval requests");
      expect(ambiguous.stderr).toContain('abcdef01-0000-4000-8000-000000000001 (agent default, pending)');
      expect(ambiguous.stderr).toContain('abcdef02-0000-4000-8000-000000000002');
      expect((await admin(home, ['approvals', 'show', 'abcdef02'])).code).toBe(0);
    } finally {
      for (const twin of twins) rmSync(path.join(approvalsDir, `${twin}.json`), { force: true });
    }
  });
});

describe('approve and deny at a terminal', () => {
  it('show the request and ask; "n" changes nothing, "y" approves and the agent\'s retry gets the value', async () => {
    const id = await request('STRIPE');
    const env = { ...home.env, ASS_ADMIN_KEY: home.adminKey };
    const no = runInPty(['--config', home.configPath, 'approvals', 'approve', id.slice(0, 10)], { env, answers: [[/\[y\/N\] $/, 'n']] });
    expect(no.typed).toBe(1);
    expect(no.output).toContain(`Approval request ${id}  [pending]`);
    expect(no.output).toContain('prod/pay/STRIPE (critical)');
    expect(no.output).toContain(`Approve ${id} for agent default? [y/N]`);
    expect(no.output).toContain('Not approved: nothing changed.');
    expect(no.code).not.toBe(0);
    expect((await ok(agent.client, 'get_approval_status', { approval_id: id })).status).toBe('pending');

    // The admin key asked for hidden, then the confirmation.
    const yes = runInPty(['--config', home.configPath, 'approvals', 'approve', id.slice(0, 10)], { env: home.env, answers: [[/Admin key: $/, home.adminKey], [/\[y\/N\] $/, 'y']] });
    expect(yes.typed).toBe(2);
    expect(yes.code, yes.output).toBe(0);
    expect(yes.output).not.toContain(home.adminKey);
    expect(yes.output).toContain(`Approved ${id}: agent default may use secrets:read:prod/pay/STRIPE until`);
    expect((await ok(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'STRIPE' })).value).toBe(VALUE);
  });

  it('--yes skips the question at a terminal; the denied request asked again gets the denial again', async () => {
    const id = await request('OTHER');
    const env = { ...home.env, ASS_ADMIN_KEY: home.adminKey };
    const quick = runInPty(['--config', home.configPath, 'approvals', 'deny', id, '--yes'], { env });
    expect(quick.typed).toBe(0);
    expect(quick.code, quick.output).toBe(0);
    expect(quick.output).not.toContain('[y/N]');
    expect(quick.output).toContain(`Denied ${id}.`);

    // The denied request, asked again at once, gets the denial again (cooldown), not a new request.
    const again = await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'OTHER' });
    expect(again.code).toBe('POLICY_DENIED');
    expect(again.error).toContain(`A human denied this request (approval ${id})`);
  });

  it('scripts: no terminal, no question; details on stderr, the result alone on stdout', async () => {
    await ok(agent.client, 'list_namespaces');
    const secondKey = await addAgent(home, 'script-bot', ['secrets:read:prod/**']);
    const bot = await connectAgent(home.configPath, secondKey);
    try {
      const id = approvalIdOf((await fails(bot.client, 'get_secret', { namespace: 'prod/pay', key: 'OTHER' })).error);
      const decided = await admin(home, ['approvals', 'approve', id, '--json']);
      expect(decided.code, decided.stderr).toBe(0);
      expect(decided.stderr).toContain(`Approval request ${id}  [pending]`);
      expect(decided.stderr).toMatch(/agent: +script-bot/);
      expect(JSON.parse(decided.stdout)).toMatchObject({ status: 'approved', agent_id: 'script-bot' });

      // Revoking the agent: its approved request lists as revoked, not denied.
      const revoked = await admin(home, ['agents', 'revoke', 'script-bot']);
      expect(revoked.code, revoked.stderr).toBe(0);
      const rows = await adminJson<any[]>(home, ['approvals', 'list', '--all']);
      expect(rows.find((r) => r.approval_id === id)?.status).toBe('revoked');
      const text = await admin(home, ['approvals', 'list', '--all']);
      expect(text.stdout).toContain(`${id}  revoked`);
      // And decided requests are gone from the pending view.
      expect((await adminJson<any[]>(home, ['approvals', 'list'])).map((r) => r.approval_id)).not.toContain(id);
      expect((await call(bot.client, 'list_namespaces')).ok).toBe(false);
    } finally {
      await bot.close();
    }
  });
});
