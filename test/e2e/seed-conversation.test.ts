/**
 * The seed's whole agent conversation over real stdio: the built CLI serves MCP, an SDK Client
 * plays the agent, and the human approves, denies, rotates and deletes from separate CLI
 * processes with the admin key.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addAgent, admin, adminJson, APPROVAL_ERROR, approvalIdOf, call, connectAgent, fails, initHome, jwtPayload, ok,
  removeHome, setConfig, setWithApproval, type AgentConnection, type Home,
} from '../helpers/cli.js';
import { createTestClock } from '../helpers/test-clock.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const GEMINI = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };
const STRIPE = { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' };
const WEBHOOK = { namespace: 'production/stripe', key: 'STRIPE_WEBHOOK_SECRET' };

let home: Home;
let agent: AgentConnection;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  home = await initHome();
  agent = await connectAgent(home.configPath, home.agentKey);
  cleanups.push(() => agent.close());
});

afterAll(async () => {
  for (const fn of cleanups.reverse()) await fn();
  removeHome(home);
});

describe('the seed conversation over stdio', () => {
  let stripeApproval: string;

  it('seeds gemini (sensitive, served at once) with exactly the seed response fields', async () => {
    const set = await ok(agent.client, 'set_secret', { ...GEMINI, value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } });
    expect(Object.keys(set).sort()).toEqual(['access_tier', 'created_at', 'id', 'key', 'namespace', 'secret_type', 'version']);
    expect(set).toMatchObject({ ...GEMINI, version: 1, secret_type: 'api_key', access_tier: 'sensitive' });
    expect(set.id).toMatch(UUID);
    expect(set.created_at).toMatch(ISO);
  });

  it('seeds stripe (critical): even the write needs a human, approved from a separate CLI process', async () => {
    const first = await fails(agent.client, 'set_secret', { ...STRIPE, value: 'sk_live_seed', secret_type: 'api_key', access_tier: 'critical' });
    expect(first.error).toMatch(APPROVAL_ERROR);
    expect(first.code).toBe('APPROVAL_REQUIRED');
    const set = await setWithApproval(agent.client, home, { ...STRIPE, value: 'sk_live_seed', secret_type: 'api_key', access_tier: 'critical' });
    expect(set).toMatchObject({ ...STRIPE, version: 1, access_tier: 'critical' });
  });

  it('get_secret gemini returns exactly the seed response fields', async () => {
    const got = await ok(agent.client, 'get_secret', GEMINI);
    expect(got).toEqual({ value: 'gemini-api-key-example', secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' }, version: 1 });
  });

  it('list_secrets and list_namespaces answer the seed shapes without values', async () => {
    const list = await ok(agent.client, 'list_secrets', { namespace: 'production/gemini' });
    expect(Object.keys(list).sort()).toEqual(['items', 'namespace', 'total']);
    expect(list.total).toBe(1);
    expect(Object.keys(list.items[0]).sort()).toEqual(['access_tier', 'created_at', 'key', 'namespace', 'secret_type', 'updated_at', 'version']);
    expect(JSON.stringify(list)).not.toContain('gemini-api-key-example');
    const ns = await ok(agent.client, 'list_namespaces');
    expect(ns.namespaces).toEqual(expect.arrayContaining(['production/gemini', 'production/stripe']));
    expect(ns.total).toBe(ns.namespaces.length);
  });

  it('get_secret stripe answers the approval error; the status is pending; a retry reuses the id', async () => {
    const denied = await fails(agent.client, 'get_secret', STRIPE);
    expect(denied.error).toMatch(/^Error: Human approval required\. Approval ID: [0-9a-f-]{36}\. Use get_approval_status to check progress/);
    expect(denied.error).not.toContain('sk_live_seed');
    stripeApproval = approvalIdOf(denied.error);
    const status = await ok(agent.client, 'get_approval_status', { approval_id: stripeApproval });
    expect(status.status).toBe('pending');
    expect(status.resolved_at).toBeNull();
    expect(status.expires_at).toMatch(ISO);
    const again = await fails(agent.client, 'get_secret', STRIPE);
    expect(approvalIdOf(again.error)).toBe(stripeApproval);
  });

  it('`approvals list --json` in a separate process shows the pending request', async () => {
    const rows = await adminJson<any[]>(home, ['approvals', 'list']);
    const row = rows.find((r) => r.approval_id === stripeApproval);
    expect(row).toMatchObject({ status: 'pending', agent_id: 'default', scopes: ['secrets:read:production/stripe/STRIPE_SECRET_KEY'] });
    expect(JSON.stringify(rows)).not.toContain('sk_live_seed');
  });

  it('after `approvals approve` the status is approved with resolved_at, and the retry gets the value', async () => {
    const approved = await admin(home, ['approvals', 'approve', stripeApproval]);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`Approved ${stripeApproval}`);
    const status = await ok(agent.client, 'get_approval_status', { approval_id: stripeApproval });
    expect(status.status).toBe('approved');
    expect(status.resolved_at).toMatch(ISO);
    expect(Date.parse(status.expires_at)).toBeGreaterThan(Date.now());
    const got = await ok(agent.client, 'get_secret', STRIPE);
    expect(got).toMatchObject({ value: 'sk_live_seed', version: 1, access_tier: 'critical' });
  });

  it('the approval is scoped: another key in the same namespace needs its own approval', async () => {
    await setWithApproval(agent.client, home, { ...WEBHOOK, value: 'whsec_seed', access_tier: 'critical' });
    const other = await fails(agent.client, 'get_secret', WEBHOOK);
    const id = approvalIdOf(other.error);
    expect(id).not.toBe(stripeApproval);
    // The approved key still works meanwhile.
    expect((await ok(agent.client, 'get_secret', STRIPE)).value).toBe('sk_live_seed');
  });

  it('denial: `approvals deny` → denied; a retry within approvals.deny_cooldown gets the denial again, not a new approval', async () => {
    const id = approvalIdOf((await fails(agent.client, 'get_secret', WEBHOOK)).error);
    const denied = await admin(home, ['approvals', 'deny', id]);
    expect(denied.code, denied.stderr).toBe(0);
    const status = await ok(agent.client, 'get_approval_status', { approval_id: id });
    expect(status.status).toBe('denied');
    expect(status.resolved_at).toMatch(ISO);
    const retry = await fails(agent.client, 'get_secret', WEBHOOK);
    expect(retry.code).toBe('POLICY_DENIED');
    expect(retry.error).toContain(`A human denied this request (approval ${id})`);
    expect(retry.error).toMatch(/refused until \d{4}-\d\d-\d\dT[\d:.]+Z \(in (10m|9m|\d+s)\)/);
    expect((await adminJson<any[]>(home, ['approvals', 'list'])).map((r) => r.approval_id)).not.toContain(id);
    // Approving a denied request changes nothing.
    const late = await admin(home, ['approvals', 'approve', id]);
    expect(late.code).not.toBe(0);
    expect(late.stderr).toMatch(/already denied/);
  });

  it('request_token within grants returns a JWT whose exp matches expires_at', async () => {
    const before = Date.now();
    const token = await ok(agent.client, 'request_token', { scopes: ['secrets:read:production/gemini/*'], ttl: '1h' });
    expect(Object.keys(token).sort()).toEqual(['expires_at', 'requires_approval', 'scopes', 'token', 'token_id', 'ttl']);
    expect(token).toMatchObject({ requires_approval: false, scopes: ['secrets:read:production/gemini/*'], ttl: '1h' });
    expect(token.token).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = jwtPayload(token.token);
    expect(claims.exp).toBe(Math.floor(Date.parse(token.expires_at) / 1000));
    expect(claims.jti).toBe(token.token_id);
    expect(claims.sub).toBe('default');
    expect(Date.parse(token.expires_at) - before).toBeGreaterThan(3_590_000);
    expect(Date.parse(token.expires_at) - before).toBeLessThan(3_700_000);
  });

  it('request_token beyond grants needs approval; once approved it yields one token', async () => {
    const key = await addAgent(home, 'dev-only', ['secrets:read:dev/**']);
    const dev = await connectAgent(home.configPath, key);
    cleanups.push(() => dev.close());
    const ask = { scopes: ['secrets:read:production/gemini/*'], ttl: '15m' };
    const first = await ok(dev.client, 'request_token', ask);
    expect(first).toMatchObject({ requires_approval: true, message: expect.stringContaining('get_approval_status') });
    expect(first.approval_id).toMatch(UUID);
    expect(first.token).toBeUndefined();
    expect((await ok(dev.client, 'get_approval_status', { approval_id: first.approval_id })).status).toBe('pending');
    // Another agent cannot read it: it looks like an unknown id.
    expect((await fails(agent.client, 'get_approval_status', { approval_id: first.approval_id })).error).toMatch(/No approval request/);
    const approved = await admin(home, ['approvals', 'approve', first.approval_id]);
    expect(approved.code, approved.stderr).toBe(0);
    const second = await ok(dev.client, 'request_token', ask);
    expect(second).toMatchObject({ requires_approval: false, scopes: ask.scopes, ttl: '15m' });
    expect(jwtPayload(second.token)).toMatchObject({ sub: 'dev-only', approval_id: first.approval_id });
    // One approval, one token: asking again opens a new request.
    const third = await ok(dev.client, 'request_token', ask);
    expect(third.requires_approval).toBe(true);
    expect(third.approval_id).not.toBe(first.approval_id);
  });

  it('tools/list has exactly the eight tools, each with all four boolean annotation hints, and a fixed schema', async () => {
    const { tools } = await agent.client.listTools();
    const shape = Object.fromEntries(tools.map((t) => [t.name, { props: Object.keys(t.inputSchema.properties ?? {}).sort(), required: [...(t.inputSchema.required ?? [])].sort() }]));
    // A deliberate snapshot: changing a tool's inputs must change this test.
    expect(shape).toEqual({
      get_secret: { props: ['key', 'namespace', 'reason'], required: ['key', 'namespace'] },
      set_secret: { props: ['access_tier', 'key', 'metadata', 'namespace', 'secret_type', 'value'], required: ['key', 'namespace', 'value'] },
      list_secrets: { props: ['namespace'], required: ['namespace'] },
      list_namespaces: { props: [], required: [] },
      delete_secret: { props: ['key', 'namespace'], required: ['key', 'namespace'] },
      rotate_secret: { props: ['key', 'namespace'], required: ['key', 'namespace'] },
      request_token: { props: ['max_uses', 'reason', 'scopes', 'ttl'], required: ['scopes'] },
      get_approval_status: { props: ['approval_id'], required: ['approval_id'] },
    });
    expect(tools.map((t) => t.name)).toEqual(['get_secret', 'set_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'request_token', 'get_approval_status']);
    for (const tool of tools) {
      for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint', 'openWorldHint'] as const) {
        expect(typeof tool.annotations?.[hint], `${tool.name}.${hint}`).toBe('boolean');
      }
      expect(tool.outputSchema, tool.name).toBeDefined();
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.annotations!]));
    expect(byName.get_secret!.readOnlyHint).toBe(true);
    expect(byName.set_secret!.readOnlyHint).toBe(false);
    expect(byName.delete_secret!.destructiveHint).toBe(false);
  });

  it('delete_secret and rotate_secret answer requires_human_auth and leave the secret untouched', async () => {
    const before = await ok(agent.client, 'get_secret', GEMINI);
    for (const tool of ['delete_secret', 'rotate_secret']) {
      const answer = await ok(agent.client, tool, GEMINI);
      expect(answer).toEqual({ requires_human_auth: true, message: expect.stringContaining('production/gemini/GEMINI_API_KEY') });
      expect(answer.message).toMatch(/requires human authorization/);
    }
    expect(await ok(agent.client, 'get_secret', GEMINI)).toEqual(before);
  });

  it('a human rotates (`--generate`) and deletes through the CLI with the admin key, and both are audited', async () => {
    const rotated = await admin(home, ['secrets', 'rotate', GEMINI.namespace, GEMINI.key, '--generate', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual({ rotated: true, ...GEMINI, version: 2 });
    const after = await ok(agent.client, 'get_secret', GEMINI);
    expect(after.version).toBe(2);
    expect(after.value).not.toBe('gemini-api-key-example');
    expect(after.value.length).toBeGreaterThanOrEqual(43);
    // The generated value is never printed.
    expect(rotated.stdout + rotated.stderr).not.toContain(after.value);
    expect(after).toMatchObject({ secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } });

    const fromStdin = await admin(home, ['secrets', 'rotate', GEMINI.namespace, GEMINI.key], { input: 'rotated-from-stdin\n' });
    expect(fromStdin.code, fromStdin.stderr).toBe(0);
    expect(await ok(agent.client, 'get_secret', GEMINI)).toMatchObject({ value: 'rotated-from-stdin', version: 3 });

    const deleted = await admin(home, ['secrets', 'delete', GEMINI.namespace, GEMINI.key]);
    expect(deleted.code, deleted.stderr).toBe(0);
    const gone = await fails(agent.client, 'get_secret', GEMINI);
    expect(gone.code).toBe('SECRET_NOT_FOUND');
    expect((await ok(agent.client, 'list_secrets', { namespace: 'production/gemini' })).total).toBe(0);

    const records = (await readFile(`${home.dir}/audit.log`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const human = records.filter((r) => r.actor === 'admin:admin').map((r) => `${r.action} ${r.namespace ?? ''}/${r.key ?? ''}`);
    expect(human).toEqual(expect.arrayContaining(['secrets.rotate production/gemini/GEMINI_API_KEY', 'secrets.delete production/gemini/GEMINI_API_KEY', 'approvals.approve /', 'approvals.deny /']));
    expect(records.filter((r) => r.action === 'secrets.rotate')).toHaveLength(2);
  });

  it('`audit verify` is OK at the end', async () => {
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/^OK: \d+ records, chain intact/);
  });
});

describe('pending expiry (approvals.pending_ttl: 2s)', () => {
  let expiryHome: Home;
  afterAll(() => removeHome(expiryHome));

  it('an unanswered request becomes expired (never denied), and cannot be approved afterwards', async () => {
    // A test clock shared by the server and the CLI (src/server/test-clock.ts): the 2s window
    // ends when the test says so, not when the machine gets there.
    const clock = createTestClock();
    expiryHome = { ...(await initHome()), env: clock.env };
    // Seed the critical secret with the default 15m window, then restart with a 2s window.
    const seeder = await connectAgent(expiryHome.configPath, expiryHome.agentKey, { env: clock.env });
    try {
      await setWithApproval(seeder.client, expiryHome, { ...STRIPE, value: 'sk_live_expiry', access_tier: 'critical' });
    } finally {
      await seeder.close();
    }
    await setConfig(expiryHome.configPath, { 'approvals.pending_ttl': '2s' });
    const conn = await connectAgent(expiryHome.configPath, expiryHome.agentKey, { env: clock.env });
    try {
      const id = approvalIdOf((await fails(conn.client, 'get_secret', STRIPE)).error);
      const first = await ok(conn.client, 'get_approval_status', { approval_id: id });
      expect(first.status).toBe('pending');
      expect(Date.parse(first.expires_at)).toBe(clock.now() + 2_000);
      clock.set(Date.parse(first.expires_at) - 1);
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).status).toBe('pending');
      clock.set(Date.parse(first.expires_at));
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).status).toBe('expired');
      const late = await admin(expiryHome, ['approvals', 'approve', id]);
      expect(late.code).not.toBe(0);
      expect(late.stderr).toMatch(/expired/);
      expect((await ok(conn.client, 'get_approval_status', { approval_id: id })).status).toBe('expired');
      // The agent asks again: a new request, pending.
      const next = approvalIdOf((await fails(conn.client, 'get_secret', STRIPE)).error);
      expect(next).not.toBe(id);
      const list = await adminJson<any[]>(expiryHome, ['approvals', 'list', '--all']);
      expect(list.find((r) => r.approval_id === id)?.status).toBe('expired');
    } finally {
      await conn.close();
      clock.remove();
    }
  });
});

describe('an approved grant lasts approvals.grant_ttl and no longer', () => {
  let grantHome: Home;
  afterAll(() => removeHome(grantHome));

  it('the retry succeeds within the grant, and after it a new approval is needed', async () => {
    const clock = createTestClock();
    grantHome = { ...(await initHome()), env: clock.env };
    const seeder = await connectAgent(grantHome.configPath, grantHome.agentKey, { env: clock.env });
    try {
      await setWithApproval(seeder.client, grantHome, { ...STRIPE, value: 'sk_live_grant', access_tier: 'critical' });
    } finally {
      await seeder.close();
    }
    // On the test clock, the CLI approve and the retry happen at one instant inside the grant,
    // however slow the machine; the test then moves to the grant's last millisecond and its end.
    await setConfig(grantHome.configPath, { 'approvals.grant_ttl': '10s' });
    const conn = await connectAgent(grantHome.configPath, grantHome.agentKey, { env: clock.env });
    try {
      const id = approvalIdOf((await fails(conn.client, 'get_secret', STRIPE)).error);
      expect((await admin(grantHome, ['approvals', 'approve', id])).code).toBe(0);
      const status = await ok(conn.client, 'get_approval_status', { approval_id: id });
      expect(Date.parse(status.resolved_at)).toBe(clock.now());
      expect(Date.parse(status.expires_at) - Date.parse(status.resolved_at)).toBe(10_000);
      expect((await ok(conn.client, 'get_secret', STRIPE)).value).toBe('sk_live_grant');
      clock.set(Date.parse(status.expires_at) - 1);
      expect((await ok(conn.client, 'get_secret', STRIPE)).value).toBe('sk_live_grant');
      clock.set(Date.parse(status.expires_at));
      const after = await call(conn.client, 'get_secret', STRIPE);
      expect(after.ok).toBe(false);
      const next = approvalIdOf((after as { error: string }).error);
      expect(next).not.toBe(id);
      expect((after as { error: string }).error).not.toContain('sk_live_grant');
    } finally {
      await conn.close();
      clock.remove();
    }
  });
});
