/**
 * OpenTelemetry traces (docs/observability.md) against a real OTLP/HTTP receiver on loopback:
 * the spans of the pipeline's steps and their parent/child shape, refusals ending in ERROR with
 * the code only, no secret value or key in anything exported, and tracing off loading no
 * OpenTelemetry SDK module at all.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../src/server/settings.js';
import { tracingOptions } from '../../src/server/tracing/tracing.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.js';
import { raw } from '../helpers/remote-http.js';
import { builtCli, makeConfig, REPO_ROOT, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';

const AGENT = { id: 'reader', grants: ['secrets:*:team/**'] };

/** A caller's W3C trace context: sent on every request of the main client, never followed. */
const FOREIGN_TRACE = 'ab'.repeat(16);
const TRACEPARENT = `00-${FOREIGN_TRACE}-${'cd'.repeat(8)}-01`;

async function connect(url: string, key: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'tracing-test', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`), { requestInit: { headers: { 'x-agent-key': key, ...headers } } }));
  return client;
}

type CallResult = { isError?: boolean; structuredContent?: Record<string, unknown>; _meta?: Record<string, { code?: string }> };

describe('tracing on: spans of the pipeline exported over OTLP/HTTP', () => {
  let receiver: OtlpReceiver;
  let config: RemoteConfig;
  let server: SpawnedServer;
  const canary = `canary-${randomBytes(16).toString('hex')}`;
  let restToken = '';
  const children = (parent: ReceivedSpan) => receiver.spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    config = await makeConfig({ agents: [AGENT], extra: { observability: { tracing: { otlp_endpoint: receiver.url, service_name: 'ass-tracing-test' } } } });
    server = await spawnHttpServer(config.configPath);
    const client = await connect(server.url, config.keys.reader!, { traceparent: TRACEPARENT });
    const set = (await client.callTool({ name: 'set_secret', arguments: { namespace: 'team/app', key: 'API_TOKEN', value: canary, secret_type: 'api_key', access_tier: 'sensitive' } })) as CallResult;
    expect(set.isError).toBeFalsy();
    const got = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'team/app', key: 'API_TOKEN', reason: `deploy with ${canary}` } })) as CallResult;
    expect(got.structuredContent?.value).toBe(canary);
    const refused = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'other/app', key: 'API_TOKEN' } })) as CallResult;
    expect(refused.isError).toBe(true);
    // REST: a token asked with the agent key, then the read with the token.
    const rest = (method: string, route: string, bearer: string, body?: unknown) =>
      raw({ url: server.url, method, path: route, headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const issued = await rest('POST', '/v1/tokens', config.keys.reader!, { scopes: ['secrets:read:team/app/*'], ttl: '15m' });
    expect(issued.status, issued.body).toBe(200);
    restToken = (JSON.parse(issued.body) as { token: string }).token;
    const read = await rest('GET', '/v1/secrets/team/app/API_TOKEN', restToken);
    expect(read.status, read.body).toBe(200);
    expect(read.body).toContain(canary);
    // A wrong key: the auth step fails before any tool runs.
    await expect(connect(server.url, `ass_${randomBytes(32).toString('base64url')}`)).rejects.toThrow();
    await client.close();
    // SIGTERM closes the runtime, which flushes the batched spans before the process exits.
    await server.stop();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
    await config?.cleanup();
  });

  it('sends OTLP JSON to /v1/traces with the configured service.name', () => {
    expect(receiver.requests.length).toBeGreaterThan(0);
    for (const r of receiver.requests) {
      expect(r.path).toBe('/v1/traces');
      expect(r.contentType).toMatch(/^application\/json/);
    }
    expect(new Set(receiver.spans.map((s) => s.service))).toEqual(new Set(['ass-tracing-test']));
  });

  it('nests auth and the tool call under the HTTP request, and policy, backend and audit under the tool call', () => {
    const tool = receiver.spans.find((s) => s.name === 'ass.tool get_secret' && s.attributes['ass.outcome'] === 'ok');
    expect(tool, receiver.spans.map((s) => s.name).join(', ')).toBeDefined();
    expect(tool!.attributes).toMatchObject({ 'ass.tool': 'get_secret', 'ass.agent.id': 'reader', 'ass.namespace': 'team/app', 'ass.key': 'API_TOKEN' });
    expect(tool!.status.code).toBe(1);

    const request = receiver.spans.find((s) => s.spanId === tool!.parentSpanId);
    expect(request?.name).toBe('ass.http POST');
    expect(request!.parentSpanId).toBeFalsy();
    // The client's traceparent was not followed: no span joined its trace.
    expect(receiver.spans.filter((s) => s.traceId === FOREIGN_TRACE)).toEqual([]);
    expect(request!.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': 'mcp', 'http.response.status_code': 200 });
    const auth = children(request!).find((s) => s.name === 'ass.auth');
    expect(auth?.attributes).toMatchObject({ 'ass.transport': 'mcp', 'ass.agent.id': 'reader', 'ass.outcome': 'ok' });

    const steps = children(tool!);
    expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(['ass.policy early', 'ass.backend get', 'ass.policy', 'ass.audit append']));
    expect(steps.find((s) => s.name === 'ass.backend get')!.attributes).toMatchObject({ 'ass.backend.type': 'file', 'ass.namespace': 'team/app', 'ass.key': 'API_TOKEN', 'ass.outcome': 'found' });
    expect(steps.find((s) => s.name === 'ass.policy')!.attributes).toMatchObject({ 'ass.decision': 'allow', 'ass.tier': 'sensitive', 'ass.agent.id': 'reader' });
    expect(steps.find((s) => s.name === 'ass.audit append')!.attributes).toMatchObject({ 'ass.outcome': 'allowed' });

    // set_secret writes through the backend span too.
    const set = receiver.spans.find((s) => s.name === 'ass.tool set_secret')!;
    expect(children(set).map((s) => s.name)).toEqual(expect.arrayContaining(['ass.backend get', 'ass.policy', 'ass.backend put', 'ass.audit append']));
  });

  it('traces REST the same way: auth with transport rest, the tool call under the GET', () => {
    const request = receiver.spans.find((s) => s.name === 'ass.http GET' && s.attributes['http.route'] === 'rest');
    expect(request?.attributes).toMatchObject({ 'http.request.method': 'GET', 'http.response.status_code': 200 });
    const steps = children(request!);
    expect(steps.find((s) => s.name === 'ass.auth')?.attributes).toMatchObject({ 'ass.transport': 'rest', 'ass.agent.id': 'reader', 'ass.outcome': 'ok' });
    const tool = steps.find((s) => s.name === 'ass.tool get_secret');
    expect(tool?.attributes).toMatchObject({ 'ass.namespace': 'team/app', 'ass.key': 'API_TOKEN', 'ass.outcome': 'ok' });
    expect(children(tool!).map((s) => s.name)).toEqual(expect.arrayContaining(['ass.backend get', 'ass.policy', 'ass.audit append']));
  });

  it('ends a refused call in ERROR with its code only, and a bad key at the auth step', () => {
    const refused = receiver.spans.find((s) => s.name === 'ass.tool get_secret' && s.attributes['ass.namespace'] === 'other/app');
    expect(refused?.status).toMatchObject({ code: 2, message: 'POLICY_DENIED' });
    expect(refused!.attributes['ass.outcome']).toBe('POLICY_DENIED');
    const early = children(refused!).find((s) => s.name === 'ass.policy early');
    expect(early?.attributes).toMatchObject({ 'ass.decision': 'deny' });
    // The denial never read the backend.
    expect(children(refused!).some((s) => s.name.startsWith('ass.backend'))).toBe(false);
    const badKey = receiver.spans.find((s) => s.name === 'ass.auth' && s.status.code === 2);
    expect(badKey?.status.message).toBe('UNAUTHENTICATED');
    expect(badKey!.attributes['ass.agent.id']).toBeUndefined();
    const badRequest = receiver.spans.find((s) => s.spanId === badKey!.parentSpanId);
    expect(badRequest?.attributes).toMatchObject({ 'http.response.status_code': 401, 'ass.outcome': 'UNAUTHENTICATED' });
  });

  it('exports no secret value, agent key, admin key or reason text (canary)', () => {
    const everything = receiver.bodies.join('\n');
    expect(everything.length).toBeGreaterThan(0);
    expect(everything).not.toContain(canary);
    expect(everything).not.toContain(canary.slice(7, 23));
    expect(everything).not.toContain(config.keys.reader!);
    expect(everything).not.toContain(config.adminKey);
    expect(everything).not.toContain(restToken);
    expect(everything).not.toContain(restToken.split('.')[2]!);
    expect(everything).not.toContain('deploy with');
    // Only the attribute names the pipeline may set.
    const names = new Set(receiver.spans.flatMap((s) => Object.keys(s.attributes)));
    for (const name of names) expect(name).toMatch(/^(ass\.(tool|agent\.id|namespace|key|tier|decision|backend\.type|outcome|transport)|http\.(request\.method|route|response\.status_code))$/);
  });
});

/**
 * A preload that records every module the process loads: ESM resolutions through a module hook
 * (written from the hooks thread as they happen) and CommonJS ones from require.cache at exit.
 */
function moduleRecorder(dir: string): { preload: string; log: string; loaded(): string[] } {
  const log = path.join(dir, 'modules.log');
  const hook = `import { appendFileSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; }\n`;
  const preload = path.join(dir, 'record-modules.mjs');
  writeFileSync(preload, [
    `import { register, createRequire } from 'node:module';`,
    `import { appendFileSync } from 'node:fs';`,
    `register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`,
    `const require = createRequire(import.meta.url);`,
    `process.on('exit', () => appendFileSync(${JSON.stringify(log)}, Object.keys(require.cache).join('\\n') + '\\nEXIT\\n'));`,
  ].join('\n'));
  return { preload: pathToFileURL(preload).href, log, loaded: () => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []) };
}

async function spawnRecorded(preload: string, configPath: string): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', preload, builtCli(), '--config', configPath, 'serve', '--http', '--port', '0'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString('utf8');
      const m = /listening on (\S+)/.exec(err);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}: ${err}`)));
  });
  return {
    child,
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// Our tracing module: dist/server/tracing/otel.js as tsc builds it, or its chunk in the bundled CLI.
const isOurOtel = (m: string) => m.endsWith('/dist/server/tracing/otel.js') || /\/dist\/chunks\/otel-[^/]*\.js$/.test(m);
const otelModules = (loaded: string[]) => loaded.filter((m) => m.includes('/node_modules/@opentelemetry/') || isOurOtel(m));

describe('tracing off: no OpenTelemetry SDK is loaded', () => {
  let dir: string;
  let config: RemoteConfig;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'ass-tracing-off-'));
    config = await makeConfig({ agents: [AGENT] });
  });
  afterAll(async () => {
    await config?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serve (stdio) loads no @opentelemetry module at all', async () => {
    const recorder = moduleRecorder(mkdtempSync(path.join(dir, 'stdio-')));
    const transport = new StdioClientTransport({ command: process.execPath, args: ['--import', recorder.preload, builtCli(), '--config', config.configPath, 'serve'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASS_AGENT_KEY: config.keys.reader! }, stderr: 'ignore' });
    const client = new Client({ name: 'tracing-off', version: '1' });
    await client.connect(transport);
    const res = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'team/app', key: 'NONE' } })) as CallResult;
    expect(res.isError).toBe(true);
    await client.close();
    // The preload writes its last line when the server exits (bounded wait, not a timed assertion).
    for (let i = 0; i < 300 && !recorder.loaded().includes('EXIT'); i++) await new Promise((r) => setTimeout(r, 100));
    const loaded = recorder.loaded();
    expect(loaded).toContain('EXIT');
    // The recorder saw the server's own modules (the bundled CLI's entry), so an empty list below means something.
    expect(loaded.some((m) => m.endsWith('/dist/cli/main.js'))).toBe(true);
    expect(otelModules(loaded)).toEqual([]);
  }, 60_000);

  it('serve --http (with /metrics) loads no OpenTelemetry SDK, exporter or tracing module; with tracing on it does', async () => {
    const off = moduleRecorder(mkdtempSync(path.join(dir, 'http-off-')));
    const server = await spawnRecorded(off.preload, config.configPath);
    try {
      const client = await connect(server.url, config.keys.reader!);
      await client.callTool({ name: 'get_secret', arguments: { namespace: 'team/app', key: 'NONE' } });
      await client.close();
      expect((await fetch(`${server.url}/metrics`)).status).toBe(200);
    } finally {
      await server.stop();
    }
    const loadedOff = off.loaded();
    expect(loadedOff).toContain('EXIT');
    // prom-client itself requires @opentelemetry/api (for exemplars); nothing else may load.
    expect(otelModules(loadedOff).filter((m) => !m.includes('/node_modules/@opentelemetry/api/'))).toEqual([]);

    // The same recorder sees the SDK when tracing is on, so the check above can fail.
    const receiver = await startOtlpReceiver();
    const onConfig = await makeConfig({ agents: [AGENT], extra: { observability: { tracing: { otlp_endpoint: receiver.url } } } });
    const on = moduleRecorder(mkdtempSync(path.join(dir, 'http-on-')));
    const traced = await spawnRecorded(on.preload, onConfig.configPath);
    await traced.stop();
    await receiver.close();
    await onConfig.cleanup();
    const loadedOn = otelModules(on.loaded());
    expect(loadedOn.some((m) => m.includes('/@opentelemetry/sdk-trace-node/'))).toBe(true);
    expect(loadedOn.some((m) => m.includes('/@opentelemetry/exporter-trace-otlp-http/'))).toBe(true);
    expect(loadedOn.some(isOurOtel)).toBe(true);
  }, 120_000);
});

describe('tracing settings', () => {
  it('is off without config or OTEL_* endpoint, and off when OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none', () => {
    expect(tracingOptions(undefined, {})).toBeNull();
    expect(tracingOptions(undefined, { OTEL_SERVICE_NAME: 'x' })).toBeNull();
    expect(tracingOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(tracingOptions({ otlp_endpoint: 'http://127.0.0.1:4318', sample_ratio: 1 }, { OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
  });
  it('reads the config first, then the standard environment', () => {
    expect(tracingOptions({ otlp_endpoint: 'http://127.0.0.1:4318/', sample_ratio: 0.5 }, { OTEL_SERVICE_NAME: 'svc' })).toEqual({ url: 'http://127.0.0.1:4318/v1/traces', serviceName: 'svc', sampleRatio: 0.5 });
    expect(tracingOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ url: 'http://collector:4318/v1/traces', serviceName: 'agent-secret-store', sampleRatio: 1 });
    expect(tracingOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://b/custom/path', OTEL_TRACES_SAMPLER_ARG: '0.25' })).toEqual({ url: 'https://b/custom/path', serviceName: 'agent-secret-store', sampleRatio: 0.25 });
  });
  it('refuses a config endpoint that is not an http(s) URL, and a ratio outside 0..1, with the key named', async () => {
    for (const [tracing, message] of [
      [{ otlp_endpoint: 'ftp://collector:4318' }, /otlp_endpoint[\s\S]*http:\/\/ or https:\/\//],
      [{ otlp_endpoint: 'http://127.0.0.1:4318', sample_ratio: 1.5 }, /sample_ratio[\s\S]*between 0 and 1/],
      [{ otlp_endpoint: 'http://127.0.0.1:4318', secret: 'x' }, /observability\.tracing[\s\S]*secret/],
    ] as const) {
      const config = await makeConfig({ agents: [AGENT], extra: { observability: { tracing } } });
      try {
        expect(() => loadSettings(config.configPath, {})).toThrow(message);
      } finally {
        await config.cleanup();
      }
    }
  });
  it('refuses an endpoint that is not an http(s) URL and a ratio outside 0..1, with the variable named', () => {
    expect(() => tracingOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT is not a URL/);
    expect(() => tracingOptions(undefined, { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'ftp://x/' })).toThrow(/must be an http/);
    expect(() => tracingOptions(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://a', OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/between 0 and 1/);
  });
});
