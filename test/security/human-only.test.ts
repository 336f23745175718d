/**
 * The admin credential and agent keys never mix: an agent key is refused by every human CLI
 * operation (clear message, exit ≠ 0, nothing changed), an admin key is refused as an agent
 * key, and a revoked agent is refused by a server that was already running.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addAgent, admin, adminJson, approvalIdOf, call, connectAgent, fails, initHome, ok, removeHome, runServerUntilExit,
  setWithApproval, type AgentConnection, type Home,
} from '../helpers/cli.js';

let home: Home;
let agent: AgentConnection;
let pendingId: string;

beforeAll(async () => {
  home = await initHome();
  agent = await connectAgent(home.configPath, home.agentKey);
  await ok(agent.client, 'set_secret', { namespace: 'staging/app', key: 'DB_URL', value: 'postgres://human-only' });
  await setWithApproval(agent.client, home, { namespace: 'production/stripe', key: 'KEY', value: 'sk_human_only', access_tier: 'critical' });
  pendingId = approvalIdOf((await fails(agent.client, 'get_secret', { namespace: 'production/stripe', key: 'KEY' })).error);
});

afterAll(async () => {
  await agent?.close();
  removeHome(home);
});

async function observable(): Promise<unknown> {
  return {
    config: await readFile(home.configPath, 'utf8'),
    approvals: (await adminJson<any[]>(home, ['approvals', 'list', '--all'])).map(({ approval_id, status, approvals_received }) => ({ approval_id, status, approvals_received })),
    db: await ok(agent.client, 'get_secret', { namespace: 'staging/app', key: 'DB_URL' }),
    stripe: await ok(agent.client, 'list_secrets', { namespace: 'production/stripe' }),
    // The audit lock (`audit.log.lock`, `.want`) comes and goes with whichever process appends
    // (the agent's server keeps it 10 ms after its get_secret above): not a change; a rotation is.
    auditFiles: (await readdir(dirname(home.configPath))).filter((name) => name.startsWith('audit.log') && !/\.(lock|want)$/.test(name)),
  };
}

describe('an agent key is refused for every human operation', () => {
  const operations = (): string[][] => [
    ['approvals', 'approve', pendingId],
    ['approvals', 'deny', pendingId],
    ['approvals', 'list'],
    ['secrets', 'delete', 'staging/app', 'DB_URL'],
    ['secrets', 'rotate', 'staging/app', 'DB_URL', '--generate'],
    ['agents', 'add', 'intruder', '--grant', 'secrets:*:**'],
    ['agents', 'revoke', 'default'],
    ['agents', 'list'],
    ['admins', 'add', 'intruder'],
    ['audit', 'rotate'],
  ];

  // Twelve CLI processes in a row: at a load average of 27 on two cores this took over 60 s
  // (29 s at rest), so its hang bound is wider than the default; nothing here measures speed.
  it('with a clear message, a non-zero exit, and nothing changed', { timeout: 240_000 }, async () => {
    const before = await observable();
    for (const args of operations()) {
      const result = await admin(home, args, { key: home.agentKey });
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stdout, args.join(' ')).toBe('');
      expect(result.stderr, args.join(' ')).toMatch(/That is an agent key\. Agents can never approve, delete, rotate or manage agents; use an admin key\./);
      expect(result.stderr).not.toContain(home.agentKey);
    }
    // Rotating from stdin too.
    const rotate = await admin(home, ['secrets', 'rotate', 'staging/app', 'DB_URL'], { key: home.agentKey, input: 'new-value\n' });
    expect(rotate.code).not.toBe(0);
    expect(await observable()).toEqual(before);
    expect((await ok(agent.client, 'get_approval_status', { approval_id: pendingId })).status).toBe('pending');
  });

  it('also with no key, or an unknown key', async () => {
    for (const key of ['', `ass_admin_${'z'.repeat(43)}`]) {
      const result = await admin(home, ['approvals', 'approve', pendingId], { key });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/set ASS_ADMIN_KEY|Unknown admin key/);
    }
    expect((await ok(agent.client, 'get_approval_status', { approval_id: pendingId })).status).toBe('pending');
  });

  it('the admin key is refused as ASS_AGENT_KEY', async () => {
    const result = await runServerUntilExit(home.configPath, { ASS_AGENT_KEY: home.adminKey });
    expect(result.code).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toMatch(/^agent-secret-store: This is an admin key\./);
  });

  it('the approver is recorded: the admin key approves, and the audit names admin:admin', async () => {
    const approved = await admin(home, ['approvals', 'approve', pendingId]);
    expect(approved.code, approved.stderr).toBe(0);
    const audit = (await readFile(`${home.dir}/audit.log`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(audit.filter((r) => r.approval_id === pendingId && r.action === 'approvals.approve').map((r) => r.actor)).toEqual(['admin:admin']);
  });
});

describe('revocation', () => {
  it('a revoked agent is refused by an already-running server on its next call', async () => {
    const key = await addAgent(home, 'temp', ['secrets:*:staging/**']);
    const temp = await connectAgent(home.configPath, key);
    try {
      expect((await ok(temp.client, 'get_secret', { namespace: 'staging/app', key: 'DB_URL' })).value).toBe('postgres://human-only');
      const revoked = await admin(home, ['agents', 'revoke', 'temp']);
      expect(revoked.code, revoked.stderr).toBe(0);
      for (const [tool, args] of [['get_secret', { namespace: 'staging/app', key: 'DB_URL' }], ['list_namespaces', {}], ['set_secret', { namespace: 'staging/app', key: 'X', value: 'y' }]] as const) {
        const outcome = await call(temp.client, tool, args);
        expect(outcome, tool).toMatchObject({ ok: false, code: 'UNAUTHENTICATED', error: expect.stringMatching(/revoked/) });
      }
      expect((await ok(agent.client, 'list_secrets', { namespace: 'staging/app' })).items.map((i: { key: string }) => i.key)).toEqual(['DB_URL']);
    } finally {
      await temp.close();
    }
    // A new server refuses the key at start.
    const restarted = await runServerUntilExit(home.configPath, { ASS_AGENT_KEY: key });
    expect(restarted.code).not.toBe(0);
    expect(restarted.stderr).toMatch(/Unknown agent key/);
    // The other agent is unaffected.
    expect((await ok(agent.client, 'list_namespaces')).total).toBeGreaterThan(0);
  });
});
