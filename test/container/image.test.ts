/**
 * The container image, built from the repository's Dockerfile unchanged (on a base image built
 * here and tagged with the name the Dockerfile uses), run by the tests' own Docker engine with
 * host networking, a read-only root filesystem and a host directory as the /data volume.
 * The SDK's Client plays the seed's conversation over streamable HTTP and over SSE against the
 * container; a human approves with `docker exec … agent-secret-store approvals approve`.
 * It stops on SIGTERM well within `docker stop -t 10` with nothing lost, and no layer of the
 * image holds a key, token or value. Afterwards no container, dockerd, interface, iptables rule
 * or mount is left.
 *
 * Prints `[container] …` lines: image size, what our layers add, build time, start to healthy.
 */
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVAL_ERROR, approvalIdOf, fails, ok } from '../helpers/cli.js';
import { acquireDockerEngine, buildProjectImage, type DockerEngine, type LeftBehind } from '../helpers/docker-engine.js';
import { freePort } from '../helpers/peer-common.js';
import { INITIALIZE, MCP_HEADERS, raw } from '../helpers/remote-http.js';

const SETUP = 600_000;
const GEMINI = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };
const STRIPE = { namespace: 'production/stripe', key: 'STRIPE_SECRET_KEY' };
const WEBHOOK = { namespace: 'production/stripe', key: 'STRIPE_WEBHOOK_SECRET' };
// Values unique to this run, so finding one anywhere is a leak of this run.
const run = randomBytes(6).toString('hex');
const VALUES = { gemini: `gemini-${run}`, stripe: `sk_live_${run}`, webhook: `whsec_${run}` };
const ORIGIN = 'https://agents.example.test';

let engine: DockerEngine;
let tag: string;
let dataDir: string;
let keys: { agent_key: string; admin_key: string };
let port: number;
const names: string[] = [];
let container: string;

function log(line: string): void {
  process.stderr.write(`[container] ${line}\n`);
}

async function startContainer(): Promise<{ name: string; msToHealthz: number; msFromProcessStart: number }> {
  const name = `ass-test-${run}-${names.length}`;
  names.push(name);
  const started = performance.now();
  await engine.docker([
    'run', '-d', '--name', name, '--network', 'host', '--read-only', '--label', `org.agent-secret-store.test=${run}`,
    '-v', `${dataDir}:/data`, '-e', `ASS_HTTP_PORT=${port}`, '-e', `ASS_HTTP_ALLOWED_ORIGINS=${ORIGIN}`, tag,
  ]);
  // Event-driven wait, bounded: /healthz answers 200 once the server listens on its backend.
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const status = await fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status, () => 0);
    if (status === 200) {
      const msToHealthz = performance.now() - started;
      // From the container's process start (docker's own record), without the CLI's and engine's share.
      const startedAt = (await engine.docker(['inspect', '-f', '{{.State.StartedAt}}', name])).stdout.trim();
      return { name, msToHealthz, msFromProcessStart: Date.now() - Date.parse(startedAt.replace(/(\.\d{3})\d*/, '$1')) };
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const logs = await engine.docker(['logs', name]).catch(() => ({ stdout: '', stderr: '' }));
  throw new Error(`container ${name} never answered /healthz:\n${logs.stdout}${logs.stderr}`);
}

async function dockerStatus(name: string): Promise<{ health?: string; running: boolean; exitCode: number; oomKilled: boolean }> {
  const { stdout } = await engine.docker(['inspect', '-f', '{{json .State}}', name]);
  const state = JSON.parse(stdout) as { Running: boolean; ExitCode: number; OOMKilled: boolean; Health?: { Status: string } };
  return { running: state.Running, exitCode: state.ExitCode, oomKilled: state.OOMKilled, ...(state.Health ? { health: state.Health.Status } : {}) };
}

/** `agent-secret-store <args>` inside the running container; the admin key passes by environment, never argv. */
function execCli(args: string[], adminKey?: string) {
  return engine.docker(['exec', ...(adminKey ? ['-e', 'ASS_ADMIN_KEY'] : []), container, 'agent-secret-store', ...args], adminKey ? { env: { ASS_ADMIN_KEY: adminKey } } : {});
}

async function connect(kind: 'mcp' | 'sse'): Promise<Client> {
  const headers = { 'x-agent-key': keys.agent_key };
  const url = new URL(`http://127.0.0.1:${port}/${kind}`);
  const transport =
    kind === 'sse'
      ? new SSEClientTransport(url, { requestInit: { headers }, eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } })
      : new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  const client = new Client({ name: `container-${kind}`, version: '1.0.0' });
  await client.connect(transport);
  return client;
}

/** The seed's approval step: the call fails with the approval id, a human approves in the container, the retry succeeds. */
async function withApproval(client: Client, tool: string, args: Record<string, unknown>): Promise<any> {
  const first = await fails(client, tool, args);
  expect(first.error).toMatch(APPROVAL_ERROR);
  const id = approvalIdOf(first.error);
  expect((await ok(client, 'get_approval_status', { approval_id: id })).status).toBe('pending');
  const approved = await execCli(['approvals', 'approve', id], keys.admin_key);
  expect(approved.stdout).toContain(`Approved ${id}`);
  expect((await ok(client, 'get_approval_status', { approval_id: id })).status).toBe('approved');
  return await ok(client, tool, args);
}

beforeAll(async () => {
  engine = await acquireDockerEngine();
  const built = await buildProjectImage(engine);
  tag = built.tag;
  const size = async (image: string) => Number((await engine.docker(['image', 'inspect', '-f', '{{.Size}}', image])).stdout.trim());
  const [ours, base] = [await size(tag), await size('node:24-bookworm-slim')];
  log(`image ${tag}: ${(ours / 1e6).toFixed(1)} MB; our layers add ${((ours - base) / 1e6).toFixed(1)} MB over the base (${(base / 1e6).toFixed(1)} MB); build ${built.seconds.toFixed(1)} s`);
  dataDir = await mkdtemp(path.join(tmpdir(), 'ass-container-'));
  // The volume belongs to the image's non-root user (uid 1000), as a named volume would.
  await chown(dataDir, 1000, 1000);
  const init = await engine.docker(['run', '--rm', '--network', 'host', '--read-only', '-v', `${dataDir}:/data`, tag, 'init', '--json']);
  keys = JSON.parse(init.stdout);
  port = await freePort();
  const first = await startContainer();
  container = first.name;
  log(`start to /healthz 200: ${first.msToHealthz.toFixed(0)} ms from \`docker run\`, ${first.msFromProcessStart.toFixed(0)} ms from the container's process start`);
}, SETUP);

let leftBehind: LeftBehind | undefined;
afterAll(async () => {
  if (!engine) return;
  for (const name of names) await engine.docker(['rm', '-f', name]).catch(() => undefined);
  const remaining = (await engine.docker(['ps', '-aq', '--filter', `label=org.agent-secret-store.test=${run}`])).stdout.trim();
  leftBehind = await engine.release();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
  expect(remaining, 'containers of this run left behind').toBe('');
  if (leftBehind) {
    // This file was the engine's last holder: it stopped dockerd and checked the host.
    expect(leftBehind).toEqual({ dockerdAlive: false, interfaces: [], iptablesChains: [], ipForwardChanged: false, mounts: [] });
  }
}, SETUP);

describe('the container image', () => {
  it('runs as the non-root user node on a read-only root filesystem, and the health check turns healthy', async () => {
    const { stdout } = await engine.docker(['inspect', '-f', '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}', container]);
    expect(stdout.trim()).toBe('node true');
    expect((await engine.docker(['exec', container, 'id', '-u'])).stdout.trim()).toBe('1000');
    // Nothing outside the volume is writable, not even /tmp.
    for (const target of ['/app/dist/cli/main.js', '/tmp/probe', '/usr/local/bin/probe']) {
      await expect(engine.docker(['exec', container, 'touch', target])).rejects.toThrow(/Read-only file system/);
    }
    const deadline = Date.now() + 60_000;
    let health = (await dockerStatus(container)).health;
    while (health !== 'healthy' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      health = (await dockerStatus(container)).health;
    }
    expect(health).toBe('healthy');
  }, 90_000);

  it('refuses a Host it was not told about, and an Origin not in ASS_HTTP_ALLOWED_ORIGINS', async () => {
    // Raw HTTP: fetch would not send a Host header of our choosing.
    const url = `http://127.0.0.1:${port}`;
    expect((await raw({ url, path: '/mcp', method: 'POST', headers: { host: 'evil.example', ...MCP_HEADERS, 'x-agent-key': keys.agent_key }, body: INITIALIZE })).status).toBe(403);
    expect((await raw({ url, path: '/mcp', method: 'POST', headers: { host: `localhost:${port}`, ...MCP_HEADERS, 'x-agent-key': keys.agent_key }, body: INITIALIZE })).status).toBe(200);
    const post = (origin: string) => fetch(`http://127.0.0.1:${port}/mcp`, { method: 'POST', headers: { origin, 'content-type': 'application/json', 'x-agent-key': keys.agent_key }, body: '{}' });
    expect((await post('https://evil.example')).status).toBe(403);
    expect((await post(ORIGIN)).status).not.toBe(403);
  });

  it('plays the seed conversation over streamable HTTP, approved with docker exec … approvals approve', async () => {
    const client = await connect('mcp');
    try {
      const set = await ok(client, 'set_secret', { ...GEMINI, value: VALUES.gemini, secret_type: 'api_key', access_tier: 'sensitive' });
      expect(set).toMatchObject({ ...GEMINI, version: 1, access_tier: 'sensitive' });
      expect(await ok(client, 'get_secret', GEMINI)).toMatchObject({ value: VALUES.gemini, version: 1 });
      // Critical: the write and then the read each need a human.
      await withApproval(client, 'set_secret', { ...STRIPE, value: VALUES.stripe, secret_type: 'api_key', access_tier: 'critical' });
      expect(await withApproval(client, 'get_secret', STRIPE)).toMatchObject({ value: VALUES.stripe, access_tier: 'critical' });
      const list = await ok(client, 'list_secrets', { namespace: 'production/stripe' });
      expect(list.total).toBe(1);
      expect(JSON.stringify(list)).not.toContain(VALUES.stripe);
      expect((await ok(client, 'list_namespaces')).namespaces).toEqual(expect.arrayContaining(['production/gemini', 'production/stripe']));
      const token = await ok(client, 'request_token', { scopes: ['secrets:read:production/gemini/*'], ttl: '1h' });
      expect(token).toMatchObject({ requires_approval: false });
      const rotate = await ok(client, 'rotate_secret', GEMINI);
      expect(rotate).toMatchObject({ requires_human_auth: true });
    } finally {
      await client.close();
    }
  }, 120_000);

  it('plays it over SSE too: a new critical secret, approved in the container, then read', async () => {
    const client = await connect('sse');
    try {
      await withApproval(client, 'set_secret', { ...WEBHOOK, value: VALUES.webhook, access_tier: 'critical' });
      expect(await withApproval(client, 'get_secret', WEBHOOK)).toMatchObject({ value: VALUES.webhook });
      expect(await ok(client, 'get_secret', GEMINI)).toMatchObject({ value: VALUES.gemini });
    } finally {
      await client.close();
    }
  }, 120_000);

  it('stops on SIGTERM before docker stop -t 10 would kill it, with nothing lost: a new container on the volume has every secret and an intact audit chain', async () => {
    // A write in flight when the signal comes is either answered (and kept) or refused; never lost after an answer.
    const client = await connect('mcp');
    const inFlight = ok(client, 'set_secret', { namespace: 'dev/late', key: 'LATE', value: `late-${run}` }).then(() => true, () => false);
    await new Promise((r) => setTimeout(r, 50));
    await engine.docker(['stop', '-t', '10', container], { timeoutMs: 60_000 });
    const answered = await inFlight;
    await client.close().catch(() => undefined);
    const state = await dockerStatus(container);
    // 0: the server exited on SIGTERM by itself; 137 would be docker's SIGKILL at the deadline.
    expect(state).toMatchObject({ running: false, exitCode: 0, oomKilled: false });
    const logs = await engine.docker(['logs', container]);
    for (const value of Object.values(VALUES)) expect(logs.stdout + logs.stderr).not.toContain(value);

    const next = await startContainer();
    container = next.name;
    log(`restart on the same volume to /healthz 200: ${next.msToHealthz.toFixed(0)} ms from \`docker run\`, ${next.msFromProcessStart.toFixed(0)} ms from the process start`);
    const again = await connect('mcp');
    try {
      expect(await ok(again, 'get_secret', GEMINI)).toMatchObject({ value: VALUES.gemini });
      // The approved grant of the first container is still in force in the second.
      expect(await ok(again, 'get_secret', STRIPE)).toMatchObject({ value: VALUES.stripe });
      expect(await ok(again, 'get_secret', WEBHOOK)).toMatchObject({ value: VALUES.webhook });
      if (answered) expect(await ok(again, 'get_secret', { namespace: 'dev/late', key: 'LATE' })).toMatchObject({ value: `late-${run}` });
    } finally {
      await again.close();
    }
    const verify = await execCli(['audit', 'verify', '--json']);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, keyed: true });
  }, 180_000);

  it('no layer of the image holds a key, token or value (docker save, every file of every layer)', async () => {
    const needles = [keys.agent_key, keys.admin_key, ...Object.values(VALUES)].map((n) => Buffer.from(n));
    // Shapes of credentials that must never be baked in, whoever's they are, looked for in every
    // text file (the node binary and other binaries are searched for this run's values only).
    // Documentation of these formats (npm's man pages, the AWS SDK's AKIA…EXAMPLE) is not a credential.
    const patterns: [string, RegExp][] = [
      ['agent or admin key', /(?<![A-Za-z0-9_-])ass_(admin_)?[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/],
      ['npm token', /(?<![A-Za-z0-9_])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/],
      ['registry auth', /_authToken\s*=\s*(?!\$\{)[A-Za-z0-9._~+\/-]{20,}/],
      ['AWS access key', /(?<![A-Z0-9])AKIA(?![0-9A-Z]*EXAMPLE)[0-9A-Z]{16}(?![A-Z0-9])/],
      ['private key', /-----BEGIN (RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----\s*(\\n|\n)?[A-Za-z0-9+\/]{60,}/],
    ];
    const findings: string[] = [];
    let files = 0;
    let bytes = 0;
    const checkFile = (layer: string, name: string, data: Buffer) => {
      files += 1;
      bytes += data.length;
      const file = name.replace(/^\.\//, '');
      if (/(^|\/)(\.npmrc|\.netrc|\.git-credentials|store\.key|audit\.key)$/.test(file)) findings.push(`${layer}: ${file} (a credential file)`);
      if (/^(data|root|home\/node)\/./.test(file) || /(^|\/)\.npm\/_cacache\//.test(file)) findings.push(`${layer}: ${file} (setup data, a home directory's file or the npm cache)`);
      for (const needle of needles) if (data.includes(needle)) findings.push(`${layer}: ${file} holds a value of this run`);
      if (data.subarray(0, 8192).includes(0)) return;
      const text = data.toString('latin1');
      for (const [label, pattern] of patterns) if (pattern.test(text)) findings.push(`${layer}: ${file} looks like it holds a ${label}`);
    };
    const child = spawn(engine.cli, ['save', tag], { env: engine.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const outer = extract();
    const layers: string[] = [];
    let config = '';
    outer.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('end', () => {
        const data = Buffer.concat(chunks);
        if (header.name.endsWith('/layer.tar')) {
          layers.push(header.name);
          const inner = extract();
          inner.on('entry', (h, s, n) => {
            const parts: Buffer[] = [];
            s.on('data', (c) => parts.push(c as Buffer));
            s.on('end', () => {
              if (h.type === 'file') checkFile(header.name, h.name, Buffer.concat(parts));
              n();
            });
          });
          inner.on('finish', () => next());
          inner.on('error', next);
          inner.end(data);
        } else {
          if (header.name.endsWith('.json') && header.name !== 'manifest.json' && header.name !== 'repositories') config += data.toString('utf8');
          next();
        }
      });
    });
    child.stdout.pipe(outer);
    await new Promise<void>((resolve, reject) => {
      outer.on('finish', resolve);
      outer.on('error', reject);
      child.on('error', reject);
    });
    // The image config (env, history, labels) holds no secret and no CA bundle either.
    expect(config).toContain('"User":"node"');
    expect(config).not.toMatch(/BEGIN CERTIFICATE|npm_ca|NODE_EXTRA_CA_CERTS|_authToken/);
    log(`layer scan: ${layers.length} layers, ${files} files, ${(bytes / 1e6).toFixed(1)} MB scanned`);
    expect(layers.length).toBeGreaterThan(1);
    expect(files).toBeGreaterThan(1000);
    expect(findings).toEqual([]);
  }, 300_000);
});
