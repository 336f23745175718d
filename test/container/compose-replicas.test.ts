/**
 * The compose file of docs/scale.md (two replicas, PostgreSQL, Vault), cut from the page between
 * its markers, run with Debian's docker-compose (scripts/peers/install-compose.sh) as the page
 * says: `./ass/` holds config.yaml (state in PostgreSQL through ${DATABASE_URL}, the Vault
 * backend), token-signing.key and audit.key, owned by the image's user; Vault is initialised,
 * unsealed and given a KV v2 mount at secret/ once; then both replicas turn healthy and a secret
 * stored over MCP through replica-a is read over MCP through replica-b. `down -v` removes it all.
 *
 * On the bridge-mode engine inside a network namespace of the test's own (compose makes a
 * user-defined bridge); the host is checked afterwards. No registry is reachable: the images are
 * built here and loaded under the names the file uses: the root Dockerfile's image as
 * `agent-secret-store`, stand-ins for `postgres:15` (Debian's PostgreSQL 15 with the official
 * image's POSTGRES_* variables, scripts/docker/build-postgres-image.sh) and `hashicorp/vault:1.14`
 * (the Go-built Vault with the official entrypoint's VAULT_LOCAL_CONFIG and `server`,
 * scripts/docker/build-vault-server-image.sh).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseDocument } from 'yaml';
import { loadOrCreateSigningKey } from '../../src/approvals/tokens.js';
import { createAuditKey } from '../../src/audit/audit-key.js';
import { startBridgeEngine, type BridgeEngine, type BridgeLeftBehind } from '../helpers/bridge-engine.js';
import { buildPeerImage, DOCKER_CLI } from '../helpers/container-peer.js';
import { yamlBlock } from '../helpers/doc-blocks.js';
import { acquireDockerEngine, buildProjectImage, REPO_ROOT, type DockerEngine } from '../helpers/docker-engine.js';

const run = promisify(execFile);
const SETUP = 900_000;
const PROJECT = `assreplicas${randomBytes(3).toString('hex')}`;
const PG_PASSWORD = randomBytes(18).toString('base64url');
const VALUE = `replicas-${randomBytes(8).toString('hex')}`;
const INSTALL_HINT = 'bash scripts/peers/install-compose.sh';

let engine: DockerEngine;
let bridge: BridgeEngine | undefined;
let dir: string;
let agentKey: string;
let vaultToken = 'not-yet';
let left: BridgeLeftBehind | undefined;

async function compose(args: string[], timeoutMs = 300_000): Promise<{ stdout: string; stderr: string }> {
  return await run('docker-compose', ['-p', PROJECT, '-f', path.join(dir, 'compose.yaml'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...bridge!.env, PG_PASSWORD, ASS_VAULT_TOKEN: vaultToken },
    timeout: timeoutMs,
    maxBuffer: 16 * 1024 * 1024,
  });
}

const containerOf = async (service: string): Promise<string> => (await compose(['ps', '-q', service])).stdout.trim();

async function vault(args: string[], token?: string): Promise<string> {
  const id = await containerOf('vault');
  const { stdout } = await bridge!.docker(['exec', '-e', 'VAULT_ADDR=http://127.0.0.1:8200', ...(token ? ['-e', `VAULT_TOKEN=${token}`] : []), id, 'vault', ...args]);
  return stdout;
}

async function waitHealthy(service: string): Promise<void> {
  const id = await containerOf(service);
  let status = '';
  const deadline = Date.now() + 240_000;
  while (status !== 'healthy' && Date.now() < deadline) {
    const [health, state] = (await bridge!.docker(['inspect', '-f', '{{.State.Health.Status}} {{.State.Status}}', id])).stdout.trim().split(' ');
    status = health!;
    if (state === 'exited') break; // it will not turn healthy: say why now
    if (status !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
  }
  expect(status, `${service}: ${(await compose(['logs', '--no-color', '--tail', '30', service])).stdout}`).toBe('healthy');
}

/** One MCP tool call through a replica, by the SDK inside its container (the replicas publish no port; a balancer would). */
async function mcpCall(service: string, tool: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
  const sdk = '/app/node_modules/@modelcontextprotocol/sdk/dist/esm/client';
  const script = `import { Client } from '${sdk}/index.js';
import { StreamableHTTPClientTransport } from '${sdk}/streamableHttp.js';
const client = new Client({ name: 'compose-test', version: '1.0.0' });
await client.connect(new StreamableHTTPClientTransport(new URL('http://127.0.0.1:8080/mcp'), { requestInit: { headers: { 'x-agent-key': process.env.AGENT_KEY } } }));
const result = await client.callTool({ name: process.env.TOOL, arguments: JSON.parse(process.env.ARGS) });
console.log(JSON.stringify({ isError: result.isError ?? false, structured: result.structuredContent ?? null, text: result.content?.[0]?.text ?? '' }));
await client.close();`;
  const { stdout } = await run(DOCKER_CLI, ['exec', '-e', 'AGENT_KEY', '-e', 'TOOL', '-e', 'ARGS', await containerOf(service), 'node', '--input-type=module', '-e', script], {
    env: { ...process.env, ...bridge!.env, AGENT_KEY: agentKey, TOOL: tool, ARGS: JSON.stringify(args) },
    timeout: 120_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

beforeAll(async () => {
  await run('docker-compose', ['version', '--short']).catch(() => {
    throw new Error(`docker-compose is not installed. Run \`${INSTALL_HINT}\`.`);
  });
  engine = await acquireDockerEngine();
  const file = yamlBlock(await readFile(path.join(REPO_ROOT, 'docs/scale.md'), 'utf8'), 'compose-replicas', 'docs/scale.md');
  const services = (parse(file) as { services: Record<string, { image?: string }> }).services;
  const own = { kind: 'own' as const, env: engine.env, hostNetwork: true, release: async () => undefined };
  const { tag } = await buildProjectImage(engine);
  const postgres = await buildPeerImage(own, 'build-postgres-image.sh');
  const vaultServer = await buildPeerImage(own, 'build-vault-server-image.sh');
  bridge = await startBridgeEngine(engine, [tag, postgres, vaultServer]);
  await bridge.docker(['tag', tag, services['replica-a']!.image!]);
  await bridge.docker(['tag', postgres, services.postgres!.image!]);
  await bridge.docker(['tag', vaultServer, services.vault!.image!]);

  dir = await mkdtemp(path.join(tmpdir(), 'ass-compose-replicas-'));
  await writeFile(path.join(dir, 'compose.yaml'), file);
  await writeFile(path.join(dir, 'pg_password'), PG_PASSWORD, { mode: 0o644 });
  // ./ass as the page describes it: config.yaml, token-signing.key, audit.key, for uid 1000.
  const ass = path.join(dir, 'ass');
  const init = JSON.parse((await run(process.execPath, [path.join(REPO_ROOT, 'dist/cli/main.js'), 'init', '--dir', ass, '--json'])).stdout) as { config_path: string; agent_key: string };
  agentKey = init.agent_key;
  const config = parseDocument(await readFile(init.config_path, 'utf8'));
  config.set('backend', config.createNode({ type: 'vault', address: 'http://vault:8200', mount: 'secret', auth: { method: 'token', token_env: 'VAULT_TOKEN' } }));
  // As the page says: no TLS on the compose network's PostgreSQL (the state store asks for it by default).
  config.set('state', config.createNode({ type: 'postgres', url: '${DATABASE_URL}', migrate_on_start: true, ssl: { mode: 'disable' } }));
  await writeFile(init.config_path, String(config));
  await loadOrCreateSigningKey(path.join(ass, 'token-signing.key'));
  createAuditKey(path.join(ass, 'audit.key'), 1);
  await run('chown', ['-R', '1000:1000', ass]);
  await chmod(ass, 0o700);
  await chown(ass, 1000, 1000);
}, SETUP);

afterAll(async () => {
  if (bridge) {
    await compose(['down', '-v', '--remove-orphans'], 120_000).catch(() => undefined);
    left = await bridge.stop();
  }
  await engine?.release();
  if (dir) await rm(dir, { recursive: true, force: true });
  if (left) expect(left).toEqual({ dockerdAlive: false, newInterfaces: [], iptablesChanged: false, ipForwardChanged: false, namespaceLeft: false, mounts: [] });
}, SETUP);

describe("docs/scale.md's compose file (two replicas, PostgreSQL, Vault) with docker-compose", () => {
  it('PostgreSQL turns healthy; Vault is initialised, unsealed and given a KV v2 mount once', async () => {
    await compose(['up', '-d', 'postgres', 'vault']);
    await waitHealthy('postgres');
    let init: { unseal_keys_b64: string[]; root_token: string } | undefined;
    const deadline = Date.now() + 60_000;
    while (!init) {
      init = await vault(['operator', 'init', '-key-shares=1', '-key-threshold=1', '-format=json']).then((o) => JSON.parse(o) as typeof init, () => undefined);
      if (!init && Date.now() > deadline) throw new Error(`vault operator init failed: ${(await compose(['logs', '--no-color', '--tail', '20', 'vault'])).stdout}`);
      if (!init) await new Promise((r) => setTimeout(r, 500));
    }
    await vault(['operator', 'unseal', init.unseal_keys_b64[0]!]);
    vaultToken = init.root_token;
    await vault(['secrets', 'enable', '-path=secret', 'kv-v2'], vaultToken);
  }, 300_000);

  it('both replicas turn healthy on the shared PostgreSQL and Vault', async () => {
    await compose(['up', '-d']);
    await waitHealthy('replica-a');
    await waitHealthy('replica-b');
    for (const service of ['replica-a', 'replica-b']) {
      const logs = (await compose(['logs', '--no-color', service])).stdout;
      for (const secret of [vaultToken, PG_PASSWORD, agentKey]) expect(logs).not.toContain(secret);
    }
  }, 600_000);

  it('a secret stored over MCP through replica-a is read over MCP through replica-b', async () => {
    const set = await mcpCall('replica-a', 'set_secret', { namespace: 'replicas/demo', key: 'TOKEN', value: VALUE });
    expect(set.isError, String(set.text)).toBe(false);
    const got = await mcpCall('replica-b', 'get_secret', { namespace: 'replicas/demo', key: 'TOKEN' });
    expect(got.structured).toMatchObject({ value: VALUE });
  }, 300_000);

  it('`down -v` removes the containers, the network and the volumes', async () => {
    await compose(['down', '-v']);
    for (const kind of [['ps', '-aq'], ['network', 'ls', '-q'], ['volume', 'ls', '-q']]) {
      expect((await bridge!.docker([...kind, '--filter', `label=com.docker.compose.project=${PROJECT}`])).stdout.trim()).toBe('');
    }
  }, 300_000);
});
