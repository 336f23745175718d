/**
 * The `ass` backend against a second server process: the backend contract through the adapter,
 * then the whole chain — local stdio server → ass adapter → remote `serve --http` → file
 * backend — with every outbound request recorded: none carries the local agent's key or token.
 */
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAssBackend } from '../../src/adapters/ass/index.js';
import { createBackend } from '../../src/adapters/registry.js';
import { loadSettings } from '../../src/server/settings.js';
import { runBackendContract } from '../contract/backend-contract.js';
import { startRecorder } from '../helpers/remote-recorder.js';
import { builtCli, makeConfig, REPO_ROOT, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';
import { writeFile } from 'node:fs/promises';

const CRITICAL_VALUE = 'remote-critical-7c1e';
let remote: { config: RemoteConfig; server: SpawnedServer; recorder: Awaited<ReturnType<typeof startRecorder>> } | undefined;
let starting: Promise<NonNullable<typeof remote>> | undefined;

/** One remote server process (and its recording proxy) for the whole file. */
function remoteServer(): Promise<NonNullable<typeof remote>> {
  starting ??= (async () => {
    const config = await makeConfig({
      agents: [{ id: 'relay', grants: ['secrets:*:**'] }],
      policy: { tiers: { standard: 'auto', sensitive: 'auto', critical: 'auto' }, namespaces: [{ pattern: 'gated/**', tiers: { critical: 'approval' } }] },
      http: { rate_limit: { per_minute: 1_000_000, burst: 10_000 } },
    });
    // Seed a secret behind a remote approval, straight into the remote's store.
    const seed = await createBackend(loadSettings(config.configPath, {}).backend);
    await seed.put({ namespace: 'gated/db', key: 'PASSWORD', value: CRITICAL_VALUE, secret_type: 'db_credential', access_tier: 'critical', metadata: {} });
    await seed.close();
    const server = await spawnHttpServer(config.configPath);
    const recorder = await startRecorder(server.url);
    remote = { config, server, recorder };
    return remote;
  })();
  return starting;
}

afterAll(async () => {
  if (!remote) return;
  await remote.recorder.close();
  await remote.server.stop();
  await remote.config.cleanup();
});

runBackendContract('ass adapter → remote serve --http → file backend', async () => {
  const r = await remoteServer();
  const backend = await createAssBackend(
    { type: 'ass', url: r.recorder.url, agent_key_env: 'REMOTE_KEY', admin_key_env: 'REMOTE_ADMIN' },
    { REMOTE_KEY: r.config.keys.relay, REMOTE_ADMIN: r.config.adminKey },
  );
  return { backend, cleanup: async () => undefined };
});

describe('ass adapter → a remote from before expected_version', () => {
  it('writes without check-and-set after the remote refuses the field, and stops sending it', async () => {
    const r = await remoteServer();
    // Plays an older remote: its strict body schema answered this 400 to an unknown field.
    const older = await startRecorder(r.server.url, (entry) =>
      entry.method === 'PUT' && entry.body.includes('expected_version')
        ? { status: 400, body: { error: { code: 'INVALID_ARGUMENT', message: 'Invalid request body: body: Unrecognized key: "expected_version".', retryable: false } } }
        : undefined,
    );
    try {
      const backend = await createAssBackend({ type: 'ass', url: older.url, agent_key_env: 'REMOTE_KEY' }, { REMOTE_KEY: r.config.keys.relay });
      expect((await backend.put({ namespace: 'older/app', key: 'K', value: 'one', secret_type: 'custom', access_tier: 'standard', metadata: {} }, { expectedVersion: 0 })).version).toBe(1);
      expect((await backend.put({ namespace: 'older/app', key: 'K', value: 'two', secret_type: 'custom', access_tier: 'standard', metadata: {} }, { expectedVersion: 1 })).version).toBe(2);
      expect(await backend.get('older/app', 'K')).toMatchObject({ value: 'two', version: 2 });
      const puts = older.requests.filter((q) => q.method === 'PUT').map((q) => ({ status: q.status, cas: q.body.includes('expected_version') }));
      expect(puts).toEqual([{ status: 400, cas: true }, { status: 200, cas: false }, { status: 200, cas: false }]);
      await backend.close();
    } finally {
      await older.close();
    }
  });
});

describe('local stdio server → ass adapter → remote server', () => {
  let client: Client;
  let localKey: string;
  let localDir: string;
  let localToken = '';

  beforeAll(async () => {
    const r = await remoteServer();
    const local = await makeConfig({ agents: [{ id: 'local-agent', grants: ['secrets:*:chain/**', 'secrets:read:gated/**'] }], backend: { type: 'ass', url: r.recorder.url, agent_key_env: 'ASS_REMOTE_AGENT_KEY' },
      // The remote gates this secret; locally it is served once the remote lets it through.
      policy: { tiers: { standard: 'auto', sensitive: 'auto', critical: 'auto' } },
    });
    localKey = local.keys['local-agent']!;
    localDir = local.dir;
    client = new Client({ name: 'chain-test', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        // The built CLI, as users run it.
        command: process.execPath,
        args: [builtCli(), '--config', local.configPath, 'serve'],
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASS_AGENT_KEY: localKey, ASS_REMOTE_AGENT_KEY: r.config.keys.relay! },
        stderr: 'pipe',
      }),
    );
  });
  afterAll(async () => client?.close());

  type Result = { isError?: boolean; structuredContent?: Record<string, unknown>; _meta?: Record<string, { code?: string; approval_id?: string }> };
  const tool = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as Result;

  it('stores, reads and lists through the chain', async () => {
    const set = await tool('set_secret', { namespace: 'chain/app', key: 'API_KEY', value: 'chain-value-1' });
    expect(set.isError, JSON.stringify(set)).toBeFalsy();
    expect(set.structuredContent).toMatchObject({ namespace: 'chain/app', key: 'API_KEY', version: 1 });
    expect((await tool('get_secret', { namespace: 'chain/app', key: 'API_KEY' })).structuredContent).toMatchObject({ value: 'chain-value-1', version: 1 });
    expect((await tool('list_secrets', { namespace: 'chain/app' })).structuredContent).toMatchObject({ total: 1 });
    expect((await tool('list_namespaces', {})).structuredContent?.namespaces).toEqual(expect.arrayContaining(['chain', 'chain/app']));
    const token = await tool('request_token', { scopes: ['secrets:read:chain/**'] });
    localToken = String(token.structuredContent?.token ?? '');
    expect(localToken).toMatch(/^eyJ/);
  });

  it('a remote approval surfaces as APPROVAL_REQUIRED with the remote approval id', async () => {
    const res = await tool('get_secret', { namespace: 'gated/db', key: 'PASSWORD' });
    expect(res.isError).toBe(true);
    const meta = res._meta?.['agent-secret-store/error'];
    expect(meta?.code).toBe('APPROVAL_REQUIRED');
    expect(meta?.approval_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(res)).not.toContain(CRITICAL_VALUE);
    // The id is the remote's: a human approves it there, with the remote admin key.
    const r = remote!;
    const approve = await fetch(`${r.server.url}/v1/approvals/${meta!.approval_id}/approve`, { method: 'POST', headers: { authorization: `Bearer ${r.config.adminKey}` } });
    expect(approve.status).toBe(200);
    const again = await tool('get_secret', { namespace: 'gated/db', key: 'PASSWORD' });
    expect(again.isError, JSON.stringify(again)).toBeFalsy();
    expect(again.structuredContent).toMatchObject({ value: CRITICAL_VALUE });
  });

  it('no outbound request carries the local agent key or a local token; only the adapter\'s own credentials', async () => {
    // A local token exists to look for, also when this case runs alone.
    if (!localToken) localToken = String((await tool('request_token', { scopes: ['secrets:read:chain/**'] })).structuredContent?.token ?? '');
    expect(localToken).toMatch(/^eyJ/);
    const { requests } = remote!.recorder;
    expect(requests.length).toBeGreaterThan(10);
    const relayKey = remote!.config.keys.relay!;
    for (const r of requests) {
      const wire = JSON.stringify(r);
      expect(wire).not.toContain(localKey);
      expect(wire).not.toContain(localToken);
      expect(r.url).not.toMatch(/key=|token=/i);
      expect(r.headers['x-agent-key']).toBeUndefined();
      const auth = String(r.headers.authorization ?? '');
      if (r.method === 'POST' && r.url === '/v1/tokens') expect(auth).toBe(`Bearer ${relayKey}`);
      else if (r.method === 'DELETE') expect(auth).toBe(`Bearer ${remote!.config.adminKey}`);
      else if (r.url !== '/healthz') expect(auth).toMatch(/^Bearer eyJ/);
    }
    // The relay key went only to the token exchange.
    expect(requests.filter((r) => JSON.stringify(r).includes(relayKey)).every((r) => r.url === '/v1/tokens')).toBe(true);
    await writeFile(path.join(localDir, 'outbound-recording.json'), JSON.stringify(requests.map((r) => ({ method: r.method, url: r.url, status: r.status })), null, 2));
  });

  it("speaks the hosted product's dialect: the namespace one encoded segment, read scopes to list, namespaces:read", () => {
    const { requests } = remote!.recorder;
    const secretCalls = requests.filter((r) => /^\/v1\/secrets\/[^?]/.test(r.url) && r.method !== 'DELETE');
    expect(secretCalls.length).toBeGreaterThan(5);
    // GET/PUT /v1/secrets/<namespace as one segment>[/<key>]: never a literal "/" inside the namespace.
    for (const r of secretCalls) expect(r.url, r.url).toMatch(/^\/v1\/secrets\/[^/]+(\/[^/]+)?$/);
    expect(secretCalls.some((r) => r.url === '/v1/secrets/chain%2Fapp/API_KEY')).toBe(true);
    expect(secretCalls.some((r) => r.method === 'GET' && r.url === '/v1/secrets/chain%2Fapp')).toBe(true);
    const scopes = requests.filter((r) => r.url === '/v1/tokens').flatMap((r) => (JSON.parse(r.body) as { scopes: string[] }).scopes);
    expect(scopes).toContain('namespaces:read');
    expect(scopes).toContain('secrets:read:chain/app/*');
    expect(scopes.filter((s) => s.startsWith('secrets:list:'))).toEqual([]);
    expect(requests.some((r) => r.url.startsWith('/v1/secrets?'))).toBe(false);
  });
});

