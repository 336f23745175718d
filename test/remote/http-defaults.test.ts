/** Fail-closed defaults: loopback bind, non-loopback refusal, rate limit before the backend, TLS, /healthz, /metrics. */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireTransportSecurity, resolveHttpOptions } from '../../src/server/http/options.js';
import type { AssError } from '../../src/shared/errors.js';
import { INITIALIZE, MCP_HEADERS, raw, toolCall, toolsList } from '../helpers/remote-http.js';
import { makeConfig, REPO_ROOT, startInProcess, type InProcessServer } from '../helpers/remote-server.js';

describe('bind address', () => {
  it('binds 127.0.0.1 by default', () => {
    expect(resolveHttpOptions(undefined).host).toBe('127.0.0.1');
  });
  it('refuses a non-loopback bind without allowed_origins, accepts it with them', () => {
    expect(() => resolveHttpOptions(undefined, { host: '0.0.0.0' })).toThrow(/allowed_origins/);
    expect(() => resolveHttpOptions({ allowed_origins: [] } as never, { host: '192.168.1.10' })).toThrow(/allowed_origins/);
    expect(resolveHttpOptions({ allowed_origins: ['https://app.example.com'] } as never, { host: '0.0.0.0' }).host).toBe('0.0.0.0');
    for (const loopback of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) expect(resolveHttpOptions(undefined, { host: loopback }).host).toBe(loopback);
  });
  it('`serve --http --host 0.0.0.0` exits with the reason on stderr', async () => {
    const config = await makeConfig({ agents: [{ id: 'a', grants: [] }] });
    try {
      let stderr = '';
      let status = 0;
      try {
        execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', config.configPath, 'serve', '--http', '--host', '0.0.0.0', '--port', '0'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 30_000 });
      } catch (error) {
        status = (error as { status: number }).status;
        stderr = String((error as { stderr: Buffer }).stderr);
      }
      expect(status).toBe(2);
      expect(stderr).toMatch(/Refusing to listen on non-loopback address '0\.0\.0\.0'/);
    } finally {
      await config.cleanup();
    }
  });
});

describe('R-12: plain HTTP on a non-loopback address', () => {
  const origins = { allowed_origins: ['https://app.example.com'] } as never;
  const check = (config: Record<string, unknown>, host: string, publicUrl?: string, env: NodeJS.ProcessEnv = {}) => {
    const warnings: string[] = [];
    const options = resolveHttpOptions({ ...(origins as object), ...config } as never, { host }, env);
    requireTransportSecurity(options, { ...(origins as object), ...config } as never, publicUrl, env, (line) => warnings.push(line));
    return warnings;
  };
  const refusal = (run: () => unknown): AssError => {
    try {
      run();
    } catch (error) {
      return error as AssError;
    }
    throw new Error('expected a refusal');
  };

  it('is refused with CONFIG_INVALID naming the settings that allow it; loopback, TLS, an https public_url and the explicit opt-in start', () => {
    for (const [host, publicUrl] of [['0.0.0.0', undefined], ['192.168.1.10', undefined], ['::', 'http://secrets.example.com']] as const) {
      const error = refusal(() => check({}, host, publicUrl));
      expect(error.code, host).toBe('CONFIG_INVALID');
      expect(error.message).toContain(`Refusing to serve plain HTTP on non-loopback address '${host}'`);
      for (const setting of ['http.tls', 'dashboard.public_url', 'http.plaintext: true', 'ASS_HTTP_PLAINTEXT=1']) expect(error.message).toContain(setting);
    }
    // ASS_HTTP_PLAINTEXT must say exactly 1.
    expect(refusal(() => check({}, '0.0.0.0', undefined, { ASS_HTTP_PLAINTEXT: 'true' })).code).toBe('CONFIG_INVALID');
    expect(check({}, '127.0.0.1')).toEqual([]);
    expect(check({}, '0.0.0.0', 'https://secrets.example.com/dashboard')).toEqual([]);
    const withTls = { ...resolveHttpOptions(origins, { host: '0.0.0.0' }), tls: { cert: Buffer.from('c'), key: Buffer.from('k') } };
    expect(() => requireTransportSecurity(withTls, origins, undefined, {}, () => undefined)).not.toThrow();
    expect(check({ plaintext: true }, '0.0.0.0')[0]).toMatch(/WARNING: serving plain HTTP on non-loopback address '0\.0\.0\.0' \(http\.plaintext: true\)/);
    expect(check({}, '0.0.0.0', undefined, { ASS_HTTP_PLAINTEXT: '1' })[0]).toMatch(/WARNING: .*\(ASS_HTTP_PLAINTEXT=1\)/);
  });

  it('`serve --http --host 0.0.0.0` with allowed origins but no TLS exits with the reason on stderr', async () => {
    const config = await makeConfig({ agents: [{ id: 'a', grants: [] }] });
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, ASS_HTTP_ALLOWED_ORIGINS: 'https://app.example.com' };
      delete env.ASS_HTTP_PLAINTEXT;
      let stderr = '';
      let status = 0;
      try {
        execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--config', config.configPath, 'serve', '--http', '--host', '0.0.0.0', '--port', '0'], { cwd: REPO_ROOT, stdio: 'pipe', timeout: 60_000, env });
      } catch (error) {
        status = (error as { status: number }).status;
        stderr = String((error as { stderr: Buffer }).stderr);
      }
      expect(status).toBe(2);
      expect(stderr).toMatch(/Refusing to serve plain HTTP on non-loopback address '0\.0\.0\.0'.*http\.tls.*dashboard\.public_url.*http\.plaintext: true/);
    } finally {
      await config.cleanup();
    }
  }, 90_000);
});

describe('per-agent rate limit', () => {
  let server: InProcessServer;
  let backendCalls = 0;
  beforeAll(async () => {
    server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }, { id: 'b', grants: ['secrets:*:b/**'] }], http: { rate_limit: { per_minute: 1, burst: 4 } } });
    const backend = server.runtime.backend;
    const get = backend.get.bind(backend);
    backend.get = async (ns, key) => {
      backendCalls += 1;
      return get(ns, key);
    };
  });
  afterAll(async () => server?.close());

  it('answers 429 with Retry-After once the burst is spent, and the refused calls reach no backend', async () => {
    const init = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.a! }, body: INITIALIZE });
    expect(init.status).toBe(200);
    const session = init.headers['mcp-session-id'] as string;
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const res = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.a!, 'mcp-session-id': session }, body: toolCall('get_secret', { namespace: 'a/x', key: 'K' }, 10 + i) });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers['retry-after']).toMatch(/^\d+$/);
        expect(JSON.parse(res.body).error.code).toBe('RATE_LIMITED');
      }
    }
    // burst 4: initialize took one, three calls served, the rest refused.
    expect(statuses).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
    expect(backendCalls).toBe(3);
    // Another agent has its own budget.
    const other = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.b! }, body: INITIALIZE });
    expect(other.status).toBe(200);
  });
});

describe('http.sessions', () => {
  let server: InProcessServer;
  beforeAll(async () => {
    server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }, { id: 'b', grants: ['secrets:*:b/**'] }], http: { sessions: { max_per_agent: 2, idle_timeout: '4s' } } });
  });
  afterAll(async () => server?.close());

  const open = async (agent: 'a' | 'b'): Promise<string> => {
    const res = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys[agent]! }, body: INITIALIZE });
    expect(res.status).toBe(200);
    return res.headers['mcp-session-id'] as string;
  };
  const use = async (agent: 'a' | 'b', session: string): Promise<number> =>
    (await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys[agent]!, 'mcp-session-id': session }, body: toolsList() })).status;

  it('max_per_agent: a third session closes the agent\'s least recently used, and no other agent\'s', async () => {
    const first = await open('a');
    const second = await open('a');
    const other = await open('b');
    expect(await use('a', first)).toBe(200); // now `second` is the least recently used
    const third = await open('a');
    expect(await use('a', second)).toBe(404);
    expect(await use('a', first)).toBe(200);
    expect(await use('a', third)).toBe(200);
    expect(await use('b', other)).toBe(200);
  });

  it('idle_timeout: a session unused for longer is closed, and a used one is not', async () => {
    const idle = await open('b');
    const busy = await open('b');
    // Used every 0.8 s for 4.8 s: past the 4 s limit for `idle`, with a wide margin for `busy`.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 800));
      expect(await use('b', busy)).toBe(200);
    }
    expect(await use('b', idle)).toBe(404);
  });

  it('is validated: 0 sessions or a malformed timeout is a config error naming the field', () => {
    expect(() => resolveHttpOptions({ sessions: { max_per_agent: 0 } } as never)).toThrow();
    expect(() => resolveHttpOptions({ sessions: { idle_timeout: 'soon' } } as never)).toThrow(/duration such as 30s/);
    expect(resolveHttpOptions(undefined).sessions).toEqual({ maxPerAgent: 64, idleMs: 30 * 60_000 });
  });
});

describe('TLS', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ass-tls-'));
  let server: InProcessServer;
  beforeAll(async () => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }], http: { tls: { cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') } } });
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  it('serves https when a cert and key are configured', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(path.join(dir, 'cert.pem'));
    expect((await raw({ url: server.url, path: '/healthz', ca })).status).toBe(200);
    const init = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.a! }, body: INITIALIZE, ca });
    expect(init.status).toBe(200);
    // Same-origin check uses the https scheme.
    const origin = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.a!, origin: server.url }, body: INITIALIZE, ca });
    expect(origin.status).toBe(200);
    const plain = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': server.keys.a!, origin: server.url.replace('https', 'http') }, body: INITIALIZE, ca });
    expect(plain.status).toBe(403);
  });

  /** The SDK client helper as its own process (async: the server under test runs in this one). */
  const client = (transport: string, extraCa: string, key = 'K'): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/tls-sdk-client.ts', server.url, transport, 'a/tls', key], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: extraCa, ASS_TEST_AGENT_KEY: server.keys.a! },
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });

  for (const transport of ['streamable', 'sse'] as const) {
    it(`a real SDK Client in its own process reads a secret over https (${transport}), trusting the certificate through NODE_EXTRA_CA_CERTS`, async () => {
      await server.runtime.backend.put({ namespace: 'a/tls', key: transport, value: 'over-tls-value', secret_type: 'api_key', access_tier: 'standard', metadata: {} });
      const run = await client(transport, path.join(dir, 'cert.pem'), transport);
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout.trim()) as { tools: string[]; result: { value: string; version: number } };
      expect(out.tools).toContain('get_secret');
      expect(out.result).toMatchObject({ value: 'over-tls-value', version: 1 });
    });
  }

  it('a client that does not trust the certificate cannot connect', async () => {
    const run = await client('streamable', '', 'streamable');
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/self.signed|certificate/i);
    expect(run.stdout).not.toContain('over-tls-value');
  });
});
