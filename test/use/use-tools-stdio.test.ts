/**
 * Use without reveal over real stdio: the built server, an SDK client as the agent, the human
 * in separate CLI processes, and real loopback HTTP receivers. An agent granted `use` but not
 * `read` can have a secret sent to the allowed host or put into an allowed command; it never
 * sees the value, and neither do the audit log, the server's stderr or the MCP transcript.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, APPROVAL_ERROR, approvalIdOf, connectAgent, connectRecording, fails, initHome, ok, removeHome, setConfig, type AgentConnection, type Home } from '../helpers/cli.js';
import { createTestClock, type TestClock } from '../helpers/test-clock.js';
import { MASK_MARKER } from '../../src/use/mask.js';
import { encodings, startReceiver, writePrinter, type Receiver } from './helpers.js';

const EIGHT = ['get_secret', 'set_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'request_token', 'get_approval_status'];
// Characters that make every encoding differ from the value (+ / = " \ space and a non-ASCII one).
const VALUE = `sk_live_${randomBytes(9).toString('base64')}+/="\\ é`;
const CRITICAL = `crit_${randomBytes(12).toString('hex')}`;

let home: Home;
let clock: TestClock;
let allowed: Receiver;
let other: Receiver;
let printer: string;
let userKey: string;
let agent: AgentConnection;

const setSecret = async (ns: string, key: string, value: string, tier: string) => {
  const r = await admin(home, ['secrets', 'set', ns, key, '--tier', tier], { input: value });
  expect(r.code, r.stderr).toBe(0);
};

function expectNoValue(text: string): void {
  for (const v of [VALUE, CRITICAL]) for (const e of encodings(v)) expect(text.includes(e), `an encoding of a secret leaked: ${text.slice(0, 300)}`).toBe(false);
}

beforeAll(async () => {
  clock = createTestClock();
  home = { ...(await initHome()), env: clock.env };
  [allowed, other] = await Promise.all([startReceiver(), startReceiver()]);
  printer = await writePrinter(home.dir);
  await setSecret('prod/api', 'TOKEN', VALUE, 'standard');
  await setSecret('prod/vault', 'ROOT', CRITICAL, 'critical');
  userKey = await addAgent(home, 'user', ['secrets:use:prod/**']);
});

afterAll(async () => {
  await agent?.close();
  await Promise.all([allowed?.close(), other?.close()]);
  clock?.remove();
  removeHome(home);
});

describe('use without reveal over stdio', () => {
  it('without a use section the tool list is exactly the eight', async () => {
    const plain = await connectAgent(home.configPath, userKey, { env: clock.env });
    try {
      expect((await plain.client.listTools()).tools.map((t) => t.name)).toEqual(EIGHT);
      expect(plain.client.getInstructions()).not.toContain('http_request');
    } finally {
      await plain.close();
    }
  });

  it('with use.commands and use.http, run_with_secrets and http_request are added (and obey the tool allow-list)', async () => {
    await setConfig(home.configPath, {
      use: {
        commands: {
          allow: [
            { executable: process.execPath, args: [printer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'print|stdin|signal|where', '[0-9]{1,3}'], env: { S: 'prod/**', TOKEN: 'prod/api/*' } },
            { executable: '/bin/sh', args: ['-c', 'sleep 987 & echo started'] },
          ],
          timeout: '30s',
          output_cap: 1_000_000,
        },
        http: { rules: [{ namespaces: 'prod/**', allowed_hosts: [`127.0.0.1:${allowed.port}`], schemes: ['http'], methods: ['GET', 'POST'] }] },
      },
    });
    agent = await connectAgent(home.configPath, userKey, { env: clock.env });
    expect((await agent.client.listTools()).tools.map((t) => t.name)).toEqual([...EIGHT, 'run_with_secrets', 'http_request']);
    expect(agent.client.getInstructions()).toContain('prefer http_request');
    const limitedKey = await addAgent(home, 'limited', ['secrets:use:prod/**'], ['--tool', 'http_request']);
    const limited = await connectAgent(home.configPath, limitedKey, { env: clock.env });
    try {
      expect((await limited.client.listTools()).tools.map((t) => t.name)).toEqual(['http_request']);
    } finally {
      await limited.close();
    }
  });

  it('use but not read: get_secret is refused', async () => {
    const refused = await fails(agent.client, 'get_secret', { namespace: 'prod/api', key: 'TOKEN' });
    expect(refused.code).toBe('POLICY_DENIED');
    expectNoValue(refused.error);
  });

  it('http_request delivers the value in the header to the allowed host; the answer that echoes it is masked', async () => {
    const before = allowed.requests.length;
    const answer = await ok(agent.client, 'http_request', { method: 'POST', url: `${allowed.origin}/echo`, headers: { Authorization: 'Bearer {{ ass://prod/api/TOKEN }}' }, body: 'key={{ass://prod/api/TOKEN}}' });
    const seen = allowed.requests[before]!;
    expect(seen.headers.authorization).toBe(`Bearer ${VALUE}`);
    expect(seen.body).toBe(`key=${VALUE}`);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe(`auth=Bearer ${MASK_MARKER}\nbody=key=${MASK_MARKER}\n`);
    expect(answer.headers['x-echo']).toBe(`Bearer ${MASK_MARKER}`);
    expectNoValue(JSON.stringify(answer));
  });

  it('a placeholder aimed at a host outside allowed_hosts is refused and nothing is sent', async () => {
    const refused = await fails(agent.client, 'http_request', { method: 'GET', url: `${other.origin}/echo`, headers: { Authorization: 'Bearer {{ass://prod/api/TOKEN}}' } });
    expect(refused.code).toBe('POLICY_DENIED');
    expect(refused.error).toContain('Nothing was sent');
    const wrongMethod = await fails(agent.client, 'http_request', { method: 'DELETE', url: `${allowed.origin}/echo`, headers: { Authorization: '{{ass://prod/api/TOKEN}}' } });
    expect(wrongMethod.code).toBe('POLICY_DENIED');
    expect(other.connections).toBe(0);
  });

  it('a redirect from the allowed host to another host is not followed', async () => {
    const answer = await ok(agent.client, 'http_request', { method: 'GET', url: `${allowed.origin}/redirect?to=${encodeURIComponent(`${other.origin}/echo`)}`, headers: { Authorization: 'Bearer {{ass://prod/api/TOKEN}}' } });
    expect(answer.status).toBe(302);
    expect(answer.headers.location).toBe(`${other.origin}/echo`);
    expect(other.connections).toBe(0);
  });

  it('run_with_secrets: every encoding, split at every offset, comes back as markers only; the exit code passes through', async () => {
    const result = await ok(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'print', '7'], env: { S: 'ass://prod/api/TOKEN' } });
    expect(result.exit_code).toBe(7);
    expect(result.truncated).toBe(false);
    expectNoValue(result.stdout);
    expectNoValue(result.stderr);
    // Each printed line is one encoding; each must have become exactly one marker.
    expect(result.stdout.split('\n').filter((line: string) => line && line !== MASK_MARKER)).toEqual([]);
    // stderr is masked with stdout as one stream, into stdout (H12-4): both copies are here.
    expect(result.stderr).toBe('');
    expect(result.stdout.split('\n').filter(Boolean)).toHaveLength(2 * encodings(VALUE).reduce((n, e) => n + e.length + 1, 0));
  });

  it("run_with_secrets: HOME and the working directory are an empty private directory, removed afterwards, never the server's or the user's (R-3: ~/.psqlrc)", async () => {
    const result = await ok(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'where', '0'], env: { S: 'ass://prod/api/TOKEN' } });
    const where = JSON.parse(result.stdout) as { home: string | null; xdg: string | null; cwdIsHome: boolean; entries: string[] };
    expect(where.home).toBeTruthy();
    expect(where.xdg).toBe(where.home);
    expect(where.cwdIsHome).toBe(true);
    expect(where.entries).toEqual([]);
    for (const other of [userInfo().homedir, homedir(), home.dir, process.cwd()]) expect(where.home).not.toBe(other);
    expect(existsSync(where.home!)).toBe(false);
  });

  it('run_with_secrets: a signal that ends the command is reported', async () => {
    const result = await ok(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'signal'], env: { S: 'ass://prod/api/TOKEN' } });
    expect(result).toMatchObject({ exit_code: null, signal: 'SIGTERM' });
  });

  it('a command outside the allow-list is refused without starting', async () => {
    const marker = path.join(home.dir, 'started');
    const refused = await fails(agent.client, 'run_with_secrets', { command: ['/usr/bin/touch', marker], env: { S: 'ass://prod/api/TOKEN' } });
    expect(refused.code).toBe('POLICY_DENIED');
    const badArg = await fails(agent.client, 'run_with_secrets', { command: [process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`] });
    expect(badArg.code).toBe('POLICY_DENIED');
    expect(existsSync(marker)).toBe(false);
  });

  it('variables: a denied name (NODE_OPTIONS) or a secret not bound to the name is refused before starting (H12-2)', async () => {
    for (const env of [{ NODE_OPTIONS: 'ass://prod/api/TOKEN' }, { TOKEN: 'ass://prod/vault/ROOT' }, { OTHER: 'ass://prod/api/TOKEN' }]) {
      const refused = await fails(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'print', '0'], env });
      expect(refused.code, JSON.stringify(env)).toBe('POLICY_DENIED');
    }
    const bound = await ok(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'print', '0'], env: { TOKEN: 'ass://prod/api/TOKEN' } });
    expect(bound.exit_code).toBe(0);
  });

  it('a timeout kills the whole process group and the tool returns even while a grandchild holds the pipe (H12-4)', async () => {
    const result = await ok(agent.client, 'run_with_secrets', { command: ['/bin/sh', '-c', 'sleep 987 & echo started'], timeout: 1 });
    expect(result.stdout).toContain('started');
    // No `sleep 987` of ours is left (it would keep the secrets in its environment).
    const left = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n').filter((l) => l.trim() === 'sleep 987');
    expect(left).toEqual([]);
  });

  it('a critical secret needs an approval for use; after it, the use works within the approved ttl only', async () => {
    const call = () => ({ method: 'GET', url: `${allowed.origin}/echo`, headers: { Authorization: '{{ass://prod/vault/ROOT}}' } });
    const before = allowed.connections;
    const first = await fails(agent.client, 'http_request', call());
    expect(first.error).toMatch(APPROVAL_ERROR);
    expect(allowed.connections).toBe(before);
    const id = approvalIdOf(first.error);
    const list = await admin(home, ['approvals', 'list', '--json']);
    expect(JSON.parse(list.stdout).find((r: { approval_id: string }) => r.approval_id === id).scopes).toEqual(['secrets:use:prod/vault/ROOT']);
    const approved = await admin(home, ['approvals', 'approve', id]);
    expect(approved.code, approved.stderr).toBe(0);
    const through = await ok(agent.client, 'http_request', call());
    expect(allowed.requests.at(-1)!.headers.authorization).toBe(CRITICAL);
    expect(through.body).toBe(`auth=${MASK_MARKER}\nbody=\n`);
    // The same approval also covers run_with_secrets (it is for use), never get_secret.
    const ran = await ok(agent.client, 'run_with_secrets', { command: [process.execPath, printer, 'print', '0'], env: { S: 'ass://prod/vault/ROOT' } });
    expect(ran.exit_code).toBe(0);
    expectNoValue(ran.stdout);
    expect((await fails(agent.client, 'get_secret', { namespace: 'prod/vault', key: 'ROOT' })).code).toBe('POLICY_DENIED');
    // approvals.grant_ttl defaults to 1h: one hour later the approval no longer counts.
    clock.advance(60 * 60 * 1000 + 1000);
    expect((await fails(agent.client, 'http_request', call())).error).toMatch(APPROVAL_ERROR);
  });

  it('the audit log records every use (agent, secret, how, outcome) and never a value; stderr and the raw transcript hold none', async () => {
    const audit = await readFile(path.join(home.dir, 'audit.log'), 'utf8');
    expectNoValue(audit);
    const records = audit.trim().split('\n').map((l) => JSON.parse(l));
    const uses = records.filter((r) => r.actor === 'agent:user' && r.action === 'http_request' && r.key === 'TOKEN');
    expect(uses.some((r) => r.outcome === 'allowed' && r.reason === `POST http://127.0.0.1:${allowed.port}`)).toBe(true);
    expect(uses.some((r) => r.outcome === 'ok' && r.reason === `POST http://127.0.0.1:${allowed.port}: status 200`)).toBe(true);
    expect(records.some((r) => r.action === 'run_with_secrets' && r.outcome === 'ok' && r.reason === `command ${process.execPath}: exit 0`)).toBe(true);
    expect(records.some((r) => r.action === 'run_with_secrets' && r.outcome === 'error' && r.reason === `command ${process.execPath}: exit 7`)).toBe(true);
    // Refusals before anything is resolved are audited against the secret, with where it would have gone.
    expect(uses.some((r) => r.outcome === 'denied' && r.reason === `GET http://127.0.0.1:${other.port}: POLICY_DENIED`)).toBe(true);
    expect(records.some((r) => r.action === 'run_with_secrets' && r.key === 'TOKEN' && r.outcome === 'denied' && r.reason === 'command /usr/bin/touch: POLICY_DENIED')).toBe(true);
    expectNoValue(agent.stderr());
    const { client, transport } = await connectRecording(home.configPath, userKey);
    try {
      await client.callTool({ name: 'http_request', arguments: { method: 'GET', url: `${allowed.origin}/echo`, headers: { Authorization: '{{ass://prod/api/TOKEN}}' } } });
      await client.callTool({ name: 'run_with_secrets', arguments: { command: [process.execPath, printer, 'print', '0'], env: { S: 'ass://prod/api/TOKEN' } } });
      const wire = transport.stdout().toString('utf8');
      expect(wire).toContain(MASK_MARKER);
      expectNoValue(wire);
      expectNoValue(transport.stderr().toString('utf8'));
    } finally {
      await client.close();
    }
  });
});
