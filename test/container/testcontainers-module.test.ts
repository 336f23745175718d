/**
 * `@agentsecretstore/mcp/testcontainers` as a user meets it: `npm pack` makes the tarball (its
 * real `prepack` build), a separate project installs it with testcontainers 11, vitest and the
 * MCP SDK, and runs the README's example exactly as the README shows it (cut from README.md
 * between its markers), plus an approval test, against the image built from the Dockerfile, on
 * the tests' own Docker engine (host networking: it has no bridge). The project also type-checks
 * the example against the package's shipped types.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baseEnv, REPO_ROOT, tempDir } from '../helpers/cli.js';
import { startBridgeEngine } from '../helpers/bridge-engine.js';
import { acquireDockerEngine, buildProjectImage, type DockerEngine } from '../helpers/docker-engine.js';

const run = promisify(execFile);
const SETUP = 900_000;

let engine: DockerEngine;
let root: string;
let project: string;
let tarball: string;

const APPROVAL_TEST = `import { AgentSecretStoreContainer, type StartedAgentSecretStoreContainer } from '@agentsecretstore/mcp/testcontainers';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { afterAll, beforeAll, expect, test } from 'vitest';

let ass: StartedAgentSecretStoreContainer;
beforeAll(async () => {
  ass = await new AgentSecretStoreContainer()
    .withAgent('reader', ['secrets:read:prod/**'])
    .withAgent('other', ['secrets:read:dev/**'])
    .withSecret('prod/stripe', 'KEY', 'sk_live_tc', 'critical')
    .withPolicy({ default_tier: 'standard', tiers: { standard: 'auto', sensitive: 'auto', critical: 'approval' } })
    .start();
}, 120_000);
afterAll(async () => { await ass?.stop(); });

test('a critical read waits for approve(id), over SSE', async () => {
  const headers = { 'x-agent-key': ass.getAgentKey('reader') };
  const transport = new SSEClientTransport(new URL(ass.getSseUrl()), {
    requestInit: { headers },
    eventSourceInit: { fetch: (u, init) => fetch(u, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) },
  });
  const client = new Client({ name: 'reader', version: '1.0.0' });
  await client.connect(transport);
  const ask = () => client.callTool({ name: 'get_secret', arguments: { namespace: 'prod/stripe', key: 'KEY' } });
  const first = await ask();
  expect(first.isError).toBe(true);
  const text = (first.content as { text: string }[])[0]!.text;
  expect(text).not.toContain('sk_live_tc');
  const id = /Approval ID: ([0-9a-f-]{36})/.exec(text)![1]!;
  await ass.approve(id);
  expect((await ask()).structuredContent).toMatchObject({ value: 'sk_live_tc' });
  await client.close();
});

test('keys are per agent and the admin key is not an agent key', async () => {
  expect(ass.getAgentKey('reader')).toMatch(/^ass_[A-Za-z0-9_-]{43}$/);
  expect(ass.getAgentKey('reader')).not.toBe(ass.getAgentKey('other'));
  expect(ass.getAdminKey()).toMatch(/^ass_admin_/);
  expect(() => ass.getAgentKey('nobody')).toThrow(/no agent 'nobody'/);
  // The network mode the run asked for (the outer test sets it): 'bridge' on a CI engine, else 'host'.
  expect(ass.getNetworkNames()).toEqual([process.env.EXPECT_NETWORK_MODE]);
  const asAgent = await fetch(ass.getMcpUrl(), {
    method: 'POST',
    headers: { 'x-agent-key': ass.getAdminKey(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });
  expect(asAgent.status).toBe(401);
  const openapi = await fetch(\`\${ass.getRestUrl()}/openapi.json\`);
  expect(openapi.status).toBe(200);
});
`;

beforeAll(async () => {
  engine = await acquireDockerEngine();
  const { tag } = await buildProjectImage(engine);
  // The name the module uses by default (what `docker build -t agent-secret-store .` makes).
  await engine.docker(['tag', tag, 'agent-secret-store:latest']);

  root = await tempDir('ass-tc-module-');
  const source = path.join(root, 'source');
  await mkdir(source);
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'src', 'scripts', 'README.md', 'config.example.yaml', 'docs']) {
    if (existsSync(path.join(REPO_ROOT, entry))) await cp(path.join(REPO_ROOT, entry), path.join(source, entry), { recursive: true });
  }
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(source, 'node_modules'), 'dir');
  const out = path.join(root, 'out');
  await mkdir(out);
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', out], { cwd: source, env: baseEnv(), timeout: 300_000, maxBuffer: 64 * 1024 * 1024 });
  const info = JSON.parse(stdout.slice(stdout.indexOf('\n[') + 1 || stdout.indexOf('['))) as { filename: string }[];
  tarball = path.join(out, info[0]!.filename);

  project = path.join(root, 'consumer');
  await mkdir(project);
  const lock = JSON.parse(await readFile(path.join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> };
  const version = (name: string) => lock.packages[`node_modules/${name}`]!.version;
  await writeFile(path.join(project, 'package.json'), JSON.stringify({
    name: 'consumer', private: true, type: 'module',
    devDependencies: {
      '@agentsecretstore/mcp': `file:${tarball}`,
      '@modelcontextprotocol/sdk': version('@modelcontextprotocol/sdk'),
      testcontainers: version('testcontainers'),
      typescript: version('typescript'),
      vitest: version('vitest'),
      '@types/node': version('@types/node'),
    },
  }, null, 2));
  await writeFile(path.join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
    include: ['*.test.ts'],
  }));
  const readme = await readFile(path.join(REPO_ROOT, 'README.md'), 'utf8');
  const example = /<!-- testcontainers-example:start -->\n```ts\n([\s\S]*?)```\n<!-- testcontainers-example:end -->/.exec(readme);
  if (!example) throw new Error('README.md has no testcontainers example between its markers');
  await writeFile(path.join(project, 'readme-example.test.ts'), example[1]!);
  await writeFile(path.join(project, 'approval.test.ts'), APPROVAL_TEST);
  // From the registry (npm's cache first); --ignore-scripts: nothing runs code at install time.
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'], { cwd: project, env: baseEnv(), timeout: 600_000, maxBuffer: 64 * 1024 * 1024 });
}, SETUP);

/** Containers testcontainers made on this engine from our image (not the Vault suites', which may run meanwhile). */
const testcontainersIds = async (): Promise<string[]> =>
  (await engine.docker(['ps', '-aq', '--no-trunc', '--filter', 'label=org.testcontainers=true', '--filter', 'ancestor=agent-secret-store:latest']).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
let before: string[] = [];
let after: string[] | undefined;

afterAll(async () => {
  if (!engine) return;
  // What the consumer project started and did not stop (its tests stop what they start).
  const left = after ? after.filter((id) => !before.includes(id)).join('\n') : '';
  if (left) await engine.docker(['rm', '-f', ...left.split('\n')]).catch(() => undefined);
  const leftBehind = await engine.release();
  if (root) await rm(root, { recursive: true, force: true });
  // Can fail: with the approval test's `await ass?.stop()` removed, it names that container.
  expect(left, 'containers the module started and did not stop').toBe('');
  if (leftBehind) expect(leftBehind).toEqual({ dockerdAlive: false, interfaces: [], iptablesChains: [], ipForwardChanged: false, mounts: [] });
}, SETUP);

describe('@agentsecretstore/mcp/testcontainers from the packed tarball', () => {
  it('installs without pulling testcontainers into a plain install (optional peer), and ships typed ESM', async () => {
    const pkg = JSON.parse(await readFile(path.join(project, 'node_modules/@agentsecretstore/mcp/package.json'), 'utf8'));
    expect(pkg.exports['./testcontainers']).toEqual({ types: './dist/testcontainers/index.d.ts', import: './dist/testcontainers/index.js' });
    expect(pkg.peerDependenciesMeta.testcontainers.optional).toBe(true);
    expect(pkg.dependencies.testcontainers).toBeUndefined();
    const tsc = await run('npx', ['tsc', '-p', '.'], { cwd: project, env: baseEnv(), timeout: 300_000 }).then(() => '', (e: { stdout?: string }) => e.stdout ?? String(e));
    expect(tsc, 'the README example and the approval test type-check against the shipped .d.ts').toBe('');
  }, 300_000);

  it('runs the README example and an approval test with vitest, as a user would', async () => {
    // The consumer's vitest must not take this vitest's worker variables for its own.
    const env = baseEnv({
        ...engine.env,
        TESTCONTAINERS_RYUK_DISABLED: 'true',
        TESTCONTAINERS_HOST_OVERRIDE: 'localhost',
        ASS_TESTCONTAINERS_NETWORK_MODE: 'host',
        EXPECT_NETWORK_MODE: 'host',
      });
    for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'NODE_ENV') delete env[k];
    before = await testcontainersIds();
    const result = await run('npx', ['vitest', 'run', '--reporter=verbose'], {
      cwd: project,
      env,
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: `${e.stderr ?? ''}\n${String(e)}` }));
    after = await testcontainersIds();
    const out = result.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    process.stderr.write(`[container] consumer project: ${out.split('\n').filter((l) => /✓|×|Tests|Duration/.test(l)).join(' | ')}\n`);
    expect(out, result.stderr).toMatch(/Tests\s+3 passed \(3\)/);
    expect(out).toMatch(/✓ readme-example\.test\.ts > the agent reads its database password/);
    expect(out).toMatch(/✓ approval\.test\.ts > a critical read waits for approve\(id\), over SSE/);
  }, 600_000);
  it('runs the same project against an engine in default bridge mode, in a network namespace of its own, and leaves the host as it was', async () => {
    // Users' CI: dockerd with its docker0 bridge, iptables NAT and docker-proxy; the module maps
    // the port and getMappedPort answers. All of it inside a namespace this test made.
    const bridge = await startBridgeEngine(engine, ['agent-secret-store:latest']);
    let result: { stdout: string; stderr: string; code: number };
    let inside: { interfaces: string[]; iptables: string };
    try {
      const env = baseEnv({ ...bridge.env, TESTCONTAINERS_RYUK_DISABLED: 'true', TESTCONTAINERS_HOST_OVERRIDE: 'localhost', EXPECT_NETWORK_MODE: 'bridge' });
      for (const k of Object.keys(env)) if (k.startsWith('VITEST') || k === 'NODE_ENV' || k === 'ASS_TESTCONTAINERS_NETWORK_MODE') delete env[k];
      inside = await bridge.insideNetwork();
      result = await bridge.runInside('npx', ['vitest', 'run', '--reporter=verbose'], { cwd: project, env, timeoutMs: 600_000 });
      const leftContainers = (await bridge.docker(['ps', '-aq'])).stdout.trim();
      expect(leftContainers, 'containers the module started in bridge mode and did not stop').toBe('');
    } finally {
      const left = await bridge.stop();
      // Can fail: with `ip netns del` removed from stop(), namespaceLeft is true.
      expect(left).toEqual({ dockerdAlive: false, newInterfaces: [], iptablesChanged: false, ipForwardChanged: false, namespaceLeft: false, mounts: [] });
    }
    expect(inside.interfaces).toContain('docker0');
    expect(inside.iptables).toMatch(/-A POSTROUTING -s 172\.17\.0\.0\/16 ! -o docker0 -j MASQUERADE/);
    const out = result.stdout.replace(/\x1b\[[0-9;]*m/g, '');
    process.stderr.write(`[container] consumer project, bridge mode: ${out.split('\n').filter((l) => /✓|×|Tests|Duration/.test(l)).join(' | ')}\n`);
    expect(out, result.stderr).toMatch(/Tests\s+3 passed \(3\)/);
    expect(out).toMatch(/✓ approval\.test\.ts > keys are per agent and the admin key is not an agent key/);
  }, 900_000);
});
