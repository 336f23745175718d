/**
 * The compose file of docs/deploy.md ("Compose: agent-secret-store in front of Vault"), cut from
 * the page between its markers, run with Debian's docker-compose (scripts/peers/install-compose.sh)
 * the way the page says: `run --rm agent-secret-store init --json`, the page's backend block put
 * into /data/config.yaml, `up -d`, then the container's health check says healthy and a real MCP
 * client stores and reads a secret that lands in Vault; `down -v` removes it all.
 *
 * Compose makes a user-defined bridge network, so it runs on the bridge-mode engine inside a
 * network namespace of the test's own (test/helpers/bridge-engine.ts), where the page's fixed
 * `127.0.0.1:8787` cannot collide with anyone's; the host is checked afterwards.
 * No registry is reachable: the images are the ones built here, loaded into that engine under
 * the names the file uses — the image the root Dockerfile built (as compose's `build: .` image)
 * and the Vault image built from the Go-built Vault binary (as `hashicorp/vault:<tag>`, a
 * stand-in: the same `vault server -dev` with the same VAULT_DEV_* variables).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startBridgeEngine, type BridgeEngine, type BridgeLeftBehind } from '../helpers/bridge-engine.js';
import { buildPeerImage, DOCKER_CLI } from '../helpers/container-peer.js';
import { yamlBlock } from '../helpers/doc-blocks.js';
import { acquireDockerEngine, buildProjectImage, REPO_ROOT, type DockerEngine } from '../helpers/docker-engine.js';

const run = promisify(execFile);
const SETUP = 900_000;
const PROJECT = `asscompose${randomBytes(3).toString('hex')}`;
const VAULT_TOKEN = `root-${randomBytes(16).toString('hex')}`;
const VALUE = `compose-${randomBytes(8).toString('hex')}`;
export const COMPOSE_INSTALL_HINT = 'bash scripts/peers/install-compose.sh';

let engine: DockerEngine;
let bridge: BridgeEngine | undefined;
let dir: string;
let keys: { agent_key: string; admin_key: string };
let left: BridgeLeftBehind | undefined;

const cut = (doc: string, marker: string): string => yamlBlock(doc, marker, 'docs/deploy.md');

async function compose(args: string[], timeoutMs = 300_000): Promise<{ stdout: string; stderr: string }> {
  return await run('docker-compose', ['-p', PROJECT, '-f', path.join(dir, 'compose.yaml'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...bridge!.env, VAULT_TOKEN },
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
}

beforeAll(async () => {
  if (!existsSync('/usr/bin/docker-compose') && !(await run('which', ['docker-compose']).then(() => true, () => false))) {
    throw new Error(`docker-compose is not installed. Run \`${COMPOSE_INSTALL_HINT}\`.`);
  }
  engine = await acquireDockerEngine();
  const doc = await readFile(path.join(REPO_ROOT, 'docs/deploy.md'), 'utf8');
  const file = cut(doc, 'compose-vault');
  const services = (parse(file) as { services: Record<string, { image?: string; build?: string }> }).services;
  const vaultImage = services.vault!.image!;
  expect(services['agent-secret-store']!.build).toBe('.');

  const { tag } = await buildProjectImage(engine);
  const vaultPeer = await buildPeerImage({ kind: 'own', env: engine.env, hostNetwork: true, release: async () => undefined }, 'build-vault-image.sh');
  bridge = await startBridgeEngine(engine, [tag, vaultPeer]);
  // compose names a `build:` service's image <project>_<service> and builds only when it is missing.
  await bridge.docker(['tag', tag, `${PROJECT}_agent-secret-store`]);
  await bridge.docker(['tag', vaultPeer, vaultImage]);

  dir = await mkdtemp(path.join(tmpdir(), 'ass-compose-'));
  await writeFile(path.join(dir, 'compose.yaml'), file);
  await writeFile(path.join(dir, 'backend.yaml'), cut(doc, 'compose-vault-backend'));
}, SETUP);

afterAll(async () => {
  if (bridge) {
    await compose(['down', '-v', '--remove-orphans'], 120_000).catch(() => undefined);
    await bridge.docker(['rmi', `${PROJECT}_agent-secret-store`]).catch(() => undefined);
    left = await bridge.stop();
  }
  await engine?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (left) expect(left).toEqual({ dockerdAlive: false, newInterfaces: [], iptablesChanged: false, ipForwardChanged: false, namespaceLeft: false, mounts: [] });
}, SETUP);

describe("docs/deploy.md's compose file (agent-secret-store + Vault) with docker-compose", () => {
  it('init --json through `compose run` prints the two keys once', async () => {
    const { stdout } = await compose(['run', '--rm', '-T', 'agent-secret-store', 'init', '--json']);
    keys = JSON.parse(stdout.slice(stdout.indexOf('{'))) as typeof keys;
    expect(keys.agent_key).toMatch(/^ass_/);
    expect(keys.admin_key).toMatch(/^ass_admin_/);
  }, 300_000);

  it("the page's backend block goes into /data/config.yaml; `up -d`; the health check says healthy", async () => {
    // What the page does with an editor, done with node (in the image) and the yaml package the server uses.
    const script = `const fs=require('fs'),Y=require('/app/node_modules/yaml');const c=Y.parseDocument(fs.readFileSync('/data/config.yaml','utf8'));c.set('backend',Y.parse(process.env.BLOCK).backend);fs.writeFileSync('/data/config.yaml',String(c))`;
    await compose(['run', '--rm', '-T', '-e', `BLOCK=${await readFile(path.join(dir, 'backend.yaml'), 'utf8')}`, '--entrypoint', 'node', 'agent-secret-store', '-e', script]);
    await compose(['up', '-d']);
    const id = (await compose(['ps', '-q', 'agent-secret-store'])).stdout.trim();
    let status = '';
    const deadline = Date.now() + 180_000;
    while (status !== 'healthy' && Date.now() < deadline) {
      status = (await bridge!.docker(['inspect', '-f', '{{.State.Health.Status}}', id])).stdout.trim();
      if (status !== 'healthy') await new Promise((r) => setTimeout(r, 500));
    }
    const logs = (await compose(['logs', '--no-color', 'agent-secret-store'])).stdout;
    expect(status, logs).toBe('healthy');
    for (const secret of [VAULT_TOKEN, keys.agent_key, keys.admin_key]) expect(logs).not.toContain(secret);
  }, 300_000);

  it('a real MCP client stores and reads a secret at 127.0.0.1:8787, and it lands in Vault', async () => {
    const client = path.join(dir, 'client.mjs');
    const sdk = (p: string) => JSON.stringify(path.join(REPO_ROOT, 'node_modules/@modelcontextprotocol/sdk/dist/esm', p));
    await writeFile(client, `import { Client } from ${sdk('client/index.js')};
import { StreamableHTTPClientTransport } from ${sdk('client/streamableHttp.js')};
const client = new Client({ name: 'compose-test', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL('http://127.0.0.1:8787/mcp'), { requestInit: { headers: { 'x-agent-key': process.env.AGENT_KEY } } }));
const set = await client.callTool({ name: 'set_secret', arguments: { namespace: 'compose/demo', key: 'TOKEN', value: process.env.VALUE } });
const got = await client.callTool({ name: 'get_secret', arguments: { namespace: 'compose/demo', key: 'TOKEN' } });
console.log(JSON.stringify({ set: set.isError ?? false, value: got.structuredContent?.value }));
await client.close();
`);
    const result = await bridge!.runInside(process.execPath, [client], { cwd: dir, env: { PATH: process.env.PATH, AGENT_KEY: keys.agent_key, VALUE }, timeoutMs: 120_000 });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toEqual({ set: false, value: VALUE });
    // In Vault itself (KV v2 at secret/, the default prefix), read with the vault CLI in its container.
    const vault = (await compose(['ps', '-q', 'vault'])).stdout.trim();
    const { stdout } = await run(DOCKER_CLI, ['exec', '-e', 'VAULT_TOKEN', '-e', 'VAULT_ADDR=http://127.0.0.1:8200', vault, 'vault', 'kv', 'get', '-format=json', '-mount=secret', 'agent-secret-store/compose/demo/TOKEN'], {
      env: { ...bridge!.env, VAULT_TOKEN },
      timeout: 60_000,
    });
    expect(stdout).toContain(VALUE);
  }, 300_000);

  it('`down -v` removes the containers, the network and the volume', async () => {
    await compose(['down', '-v']);
    expect((await bridge!.docker(['ps', '-aq', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim()).toBe('');
    expect((await bridge!.docker(['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim()).toBe('');
    expect((await bridge!.docker(['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim()).toBe('');
  }, 300_000);
});
