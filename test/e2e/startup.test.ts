/**
 * Start-up of the built server as a real process: refusals (no key, unknown key, admin key,
 * invalid config) exit non-zero with a clear message on stderr and nothing on stdout; `${ENV}`
 * interpolation, read-only mode and per-agent tool allow-lists shape what a client sees.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, baseEnv, call, CLI, connectAgent, initHome, ok, removeHome, runServerUntilExit, setConfig, type Home } from '../helpers/cli.js';

let home: Home;

beforeAll(async () => {
  home = await initHome();
});

afterAll(() => removeHome(home));

function expectOneLineRefusal(result: { code: number | null; stdout: string; stderr: string }, message: RegExp): void {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  expect(result.stdout).toBe('');
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines, result.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(message);
}

describe('the server refuses to start', () => {
  it('without ASS_AGENT_KEY', async () => {
    const result = await runServerUntilExit(home.configPath, {});
    expectOneLineRefusal(result, /^agent-secret-store: No agent key given\. Set ASS_AGENT_KEY/);
  });

  it('with an unknown key', async () => {
    const result = await runServerUntilExit(home.configPath, { ASS_AGENT_KEY: `ass_${'x'.repeat(43)}` });
    expectOneLineRefusal(result, /^agent-secret-store: Unknown agent key\./);
    expect(result.stderr).not.toContain('x'.repeat(43));
  });

  it('with the right key pasted with a line break after it: refused, and told why', async () => {
    const result = await runServerUntilExit(home.configPath, { ASS_AGENT_KEY: `${home.agentKey}\n` });
    expectOneLineRefusal(result, /^agent-secret-store: Unknown agent key\. It starts or ends with a space or line break: set the key alone/);
    expect(result.stderr).not.toContain(home.agentKey);
  });

  it('with the admin key as agent key', async () => {
    const result = await runServerUntilExit(home.configPath, { ASS_AGENT_KEY: home.adminKey });
    expectOneLineRefusal(result, /^agent-secret-store: This is an admin key\. Agents use an agent key/);
    expect(result.stderr).not.toContain(home.adminKey);
  });

  it('with a config that has an unknown key and a malformed scope: each problem names its YAML path and line', async () => {
    const bad = await initHome();
    try {
      await setConfig(bad.configPath, { 'server.colour': 'red', 'agents.0.grants': ['secrets:read:staging/**', 'secrets:read:production/gem*'] });
      const text = await readFile(bad.configPath, 'utf8');
      const lineOf = (needle: string): number => text.split('\n').findIndex((l) => l.includes(needle)) + 1;
      const result = await runServerUntilExit(bad.configPath, { ASS_AGENT_KEY: bad.agentKey });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toContain(`Invalid configuration in ${bad.configPath}`);
      expect(result.stderr).toContain(`server (line ${lineOf('colour: red')}): unknown key 'colour'`);
      expect(result.stderr).toMatch(new RegExp(`agents\\[0\\]\\.grants\\[1\\] \\(line ${lineOf('production/gem*')}\\): Invalid scope "secrets:read:production/gem\\*"`));
      expect(result.stderr).not.toContain(bad.agentKey);
    } finally {
      removeHome(bad);
    }
  });

  it('with a ${VAR} that is not set, naming the YAML path', async () => {
    const bad = await initHome({ 'server.name': '${ASS_E2E_UNSET_NAME}' });
    try {
      const result = await runServerUntilExit(bad.configPath, { ASS_AGENT_KEY: bad.agentKey });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/server\.name \(line \d+\): environment variable ASS_E2E_UNSET_NAME is not set/);
    } finally {
      removeHome(bad);
    }
  });
});

describe('the config shapes the server', () => {
  it('interpolates ${ENV} (and ${VAR:-default})', async () => {
    const envHome = await initHome({ 'server.name': '${ASS_E2E_SERVER_NAME}', 'approvals.grant_ttl': '${ASS_E2E_UNSET:-2h}' });
    try {
      const conn = await connectAgent(envHome.configPath, envHome.agentKey, { env: { ASS_E2E_SERVER_NAME: 'from-the-environment' } });
      try {
        expect(conn.client.getServerVersion()?.name).toBe('from-the-environment');
        expect((await ok(conn.client, 'list_namespaces')).total).toBe(0);
      } finally {
        await conn.close();
      }
    } finally {
      removeHome(envHome);
    }
  });

  it('read-only mode (server.read_only: true) lists only read-only tools, and a writing tool cannot be called', async () => {
    const ro = await initHome({ 'server.read_only': true });
    try {
      const conn = await connectAgent(ro.configPath, ro.agentKey);
      try {
        const { tools } = await conn.client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(['delete_secret', 'get_approval_status', 'get_secret', 'list_namespaces', 'list_secrets', 'rotate_secret']);
        expect(tools.every((t) => t.annotations?.readOnlyHint === true)).toBe(true);
        const write = await call(conn.client, 'set_secret', { namespace: 'staging/app', key: 'K', value: 'v' });
        expect(write).toMatchObject({ ok: false, error: expect.stringMatching(/Tool set_secret not found/) });
        expect((await call(conn.client, 'request_token', { scopes: ['secrets:read:staging/**'] })).ok).toBe(false);
        expect((await ok(conn.client, 'list_secrets', { namespace: 'staging/app' })).total).toBe(0);
      } finally {
        await conn.close();
      }
    } finally {
      removeHome(ro);
    }
  });

  it('a per-agent `tools:` allow-list restricts tools/list, and an unlisted tool cannot be called', async () => {
    const key = await addAgent(home, 'reader', ['secrets:*:staging/**'], ['--tool', 'get_secret', '--tool', 'list_secrets']);
    const config = await readFile(home.configPath, 'utf8');
    expect(config).toMatch(/tools:\s*\n\s*- get_secret\s*\n\s*- list_secrets/);
    const conn = await connectAgent(home.configPath, key);
    try {
      const { tools } = await conn.client.listTools();
      expect(tools.map((t) => t.name)).toEqual(['get_secret', 'list_secrets']);
      const denied = await call(conn.client, 'set_secret', { namespace: 'staging/app', key: 'K', value: 'v' });
      expect(denied).toMatchObject({ ok: false, error: expect.stringMatching(/Tool set_secret not found/) });
      expect((await ok(conn.client, 'list_secrets', { namespace: 'staging/app' })).items).toEqual([]);
    } finally {
      await conn.close();
    }
    // The default agent (no allow-list) still sees all eight.
    const all = await connectAgent(home.configPath, home.agentKey);
    try {
      expect((await all.client.listTools()).tools).toHaveLength(8);
    } finally {
      await all.close();
    }
  });

  it('an unknown tool name in an allow-list is a config error with its path', async () => {
    const bad = await initHome({ 'agents.0.tools': ['get_secret', 'steal_secret'] });
    try {
      const result = await runServerUntilExit(bad.configPath, { ASS_AGENT_KEY: bad.agentKey });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/agents\[0\]\.tools\[1\] \(line \d+\)/);
    } finally {
      removeHome(bad);
    }
  });
});

describe('the server stops', () => {
  it('when a client writes its requests and closes stdin at once, it answers them all before exiting', async () => {
    const child = spawn(process.execPath, [CLI, '--config', home.configPath], { env: baseEnv({ ...home.env, ASS_AGENT_KEY: home.agentKey }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const requests = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } },
      { jsonrpc: '2.0', method: 'notifications/initialized' },
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'set_secret', arguments: { namespace: 'staging/piped', key: 'K', value: 'piped-value' } } },
      { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'list_namespaces', arguments: {} } },
    ];
    child.stdin.end(requests.map((r) => `${JSON.stringify(r)}\n`).join(''));
    expect(await exited).toBe(0);
    const answered = stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; result?: { isError?: boolean } });
    expect(answered.map((a) => a.id).sort()).toEqual([1, 2, 3]);
    expect(answered.every((a) => a.result && !a.result.isError)).toBe(true);
  });

  it('on SIGTERM, as MCP clients stop it, with exit code 0 and no lock left in the store', async () => {
    const child = spawn(process.execPath, [CLI, '--config', home.configPath], { env: baseEnv({ ...home.env, ASS_AGENT_KEY: home.agentKey }), stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Serving once it answers initialize.
    child.stdout.setEncoding('utf8');
    const answered = new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } } })}\n`);
    await answered;
    child.kill('SIGTERM');
    expect(await exited, stderr).toBe(0);
    const leftovers = (await readdir(dirname(home.configPath), { recursive: true })).filter((name) => String(name).includes('.lock'));
    expect(leftovers).toEqual([]);
  });
});
