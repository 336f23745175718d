/**
 * A real Vault server for integration tests, on one of two paths (the suite names the one taken
 * in its describe titles through `via`, and a `[vault-peer]` line on stderr):
 *
 * 1. testcontainers: a Docker engine answers (DOCKER_HOST or /var/run/docker.sock, bridge
 *    networking), or else Debian's dockerd is installed (scripts/peers/install-docker.sh) and
 *    the tests start their own engine (test/helpers/docker-engine.ts; host networking, nothing
 *    left behind). The image is built here from the Vault binary below
 *    (scripts/docker/build-vault-image.sh); no registry is needed. Dev mode.
 * 2. The loopback fallback: the binary that `scripts/peers/install-vault.sh` builds and caches
 *    (`$ASS_VAULT_BIN`, or `${ASS_PEERS_CACHE:-~/.cache/agent-secret-store/peers}/vault/bin/vault`)
 *    started in dev mode on 127.0.0.1 with a random free port and a random root token.
 * 3. Neither: `{ skipReason }` naming the install script. Suites must fail on it unless
 *    `ASS_ALLOW_MISSING_PEERS=1`, and then `describe.skip` with the reason printed.
 *
 * `ASS_VAULT_PEER=local` or `=testcontainers` forces a path (the second fails rather than fall
 * back), so both are run on purpose.
 *
 * Dev mode: in-memory storage, unsealed, KV v2 at `secret/`. Nothing is written outside a temp
 * dir (the child's HOME is a temp dir, so no ~/.vault-token).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { buildPeerImage, containerEngine, testcontainersFor, type ContainerEngine } from './container-peer.js';
import { freePort, peersCacheDir } from './peer-common.js';

export interface VaultPeer {
  address: string;
  token: string;
  /** How the peer runs: 'testcontainers' or 'local-binary'. */
  via: string;
  stop(): Promise<void>;
}

export type VaultPeerResult = VaultPeer | { skipReason: string };

export const VAULT_INSTALL_HINT = 'bash scripts/peers/install-vault.sh';

export function vaultBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ASS_VAULT_BIN) return env.ASS_VAULT_BIN;
  return path.join(peersCacheDir(env), 'vault', 'bin', 'vault');
}

export async function startVaultPeer(): Promise<VaultPeerResult> {
  const forced = process.env.ASS_VAULT_PEER;
  const bin = vaultBinaryPath();
  if (forced !== 'local') {
    const engine = await containerEngine();
    if (engine && existsSync(bin)) {
      try {
        const peer = await startContainer(engine, bin);
        console.warn(`[vault-peer] path: testcontainers (${engine.kind} engine, ${peer.via})`);
        return peer;
      } catch (error) {
        await engine.release();
        if (forced === 'testcontainers') throw error;
        console.warn(`[vault-peer] testcontainers failed (${(error as Error).message.split('\n')[0]}); falling back to the local binary`);
      }
    } else if (forced === 'testcontainers') {
      throw new Error(`ASS_VAULT_PEER=testcontainers, but ${engine ? `no Vault binary at ${bin} to build the image from (run \`${VAULT_INSTALL_HINT}\`)` : 'no Docker engine answers and dockerd is not installed (run `bash scripts/peers/install-docker.sh`)'}`);
    } else {
      if (engine) await engine.release();
      console.warn('[vault-peer] no Docker engine: not the testcontainers path');
    }
  }
  if (!existsSync(bin)) {
    return {
      skipReason: `No Vault server: ${bin} does not exist, and the testcontainers path builds its image from it. Run \`${VAULT_INSTALL_HINT}\` (builds Vault from its Go module once, cached outside the repo).`,
    };
  }
  const peer = await startLocal(bin);
  console.warn(`[vault-peer] path: loopback binary (${peer.via})`);
  return peer;
}

async function startContainer(engine: ContainerEngine, bin: string): Promise<VaultPeer> {
  const env = { ...process.env, ...engine.env };
  const image = await buildPeerImage(engine, 'build-vault-image.sh', { ASS_VAULT_BIN: bin });
  const { GenericContainer, Wait } = await testcontainersFor(engine);
  const token = randomToken();
  const port = engine.hostNetwork ? await freePort() : 8200;
  let container = new GenericContainer(image)
    .withEnvironment({ VAULT_DEV_ROOT_TOKEN_ID: token, VAULT_DEV_LISTEN_ADDRESS: `${engine.hostNetwork ? '127.0.0.1' : '0.0.0.0'}:${port}`, VAULT_DISABLE_MLOCK: 'true', VAULT_LOG_LEVEL: 'warn' })
    .withWaitStrategy(Wait.forLogMessage(/Development mode should NOT be used in production/))
    .withStartupTimeout(120_000);
  container = engine.hostNetwork ? container.withNetworkMode('host') : container.withExposedPorts(8200);
  // Named, so a start that fails half-way (no reaper runs here) is removed, not left behind.
  const name = `ass-vault-peer-${randomBytes(6).toString('hex')}`;
  const started = await container.withName(name).start().catch(async (error: unknown) => {
    await promisify(execFile)('docker', ['rm', '-f', name], { env, timeout: 60_000 }).catch(() => undefined);
    throw error;
  });
  const address = engine.hostNetwork ? `http://127.0.0.1:${port}` : `http://${started.getHost()}:${started.getMappedPort(8200)}`;
  const stop = async () => {
    await started.stop();
    await engine.release();
  };
  const deadline = Date.now() + 60_000;
  while ((await healthStatus(address)) !== 200) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Vault in ${image} did not become healthy at ${address}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address, token, via: `testcontainers, ${image}`, stop };
}

async function startLocal(bin: string): Promise<VaultPeer> {
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const token = randomToken();
    const home = await mkdtemp(path.join(tmpdir(), 'ass-vault-peer-'));
    // Security: the root token goes through the environment, not argv (visible in `ps`).
    const child = spawn(bin, ['server', '-dev'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: home,
        VAULT_DEV_ROOT_TOKEN_ID: token,
        VAULT_DEV_LISTEN_ADDRESS: `127.0.0.1:${port}`,
        VAULT_DISABLE_MLOCK: 'true',
        VAULT_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-4_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    const address = `http://127.0.0.1:${port}`;
    const stop = () => stopChild(child).finally(() => rm(home, { recursive: true, force: true }));
    if (await waitHealthy(address, child, 30_000)) {
      return { address, token, via: 'local-binary', stop };
    }
    await stop();
    lastError = output.replaceAll(token, '<token>').trim().split('\n').slice(-5).join(' | ');
  }
  throw new Error(`Vault dev server did not become healthy on 127.0.0.1: ${lastError}`);
}

function randomToken(): string {
  return `root-${randomBytes(16).toString('hex')}`;
}


/** Polls `/v1/sys/health` every 100 ms until 200, the child exits, or the deadline passes. */
async function waitHealthy(address: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    if ((await healthStatus(address)) === 200) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export function healthStatus(address: string): Promise<number | null> {
  return new Promise((resolve) => {
    const req = request(`${address}/v1/sys/health`, { timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? null);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
