/**
 * A real Vault server for integration tests.
 *
 * 1. A Docker engine is reachable (DOCKER_HOST, or /var/run/docker.sock answering `/_ping`
 *    within 2 s): testcontainers runs the `hashicorp/vault` image in dev mode.
 * 2. Otherwise: the binary that `scripts/peers/install-vault.sh` builds and caches
 *    (`$ASS_VAULT_BIN`, or `${ASS_PEERS_CACHE:-~/.cache/agent-secret-store/peers}/vault/bin/vault`)
 *    is started in dev mode on 127.0.0.1 with a random free port and a random root token.
 * 3. Neither: `{ skipReason }` naming the install script. Suites must fail on it unless
 *    `ASS_ALLOW_MISSING_PEERS=1`, and then `describe.skip` with the reason printed.
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
import { dockerReachable, freePort, peersCacheDir } from './peer-common.js';

export interface VaultPeer {
  address: string;
  token: string;
  /** How the peer runs: 'testcontainers' or 'local-binary'. */
  via: string;
  stop(): Promise<void>;
}

export type VaultPeerResult = VaultPeer | { skipReason: string };

export const VAULT_INSTALL_HINT = 'bash scripts/peers/install-vault.sh';
const VAULT_IMAGE = 'hashicorp/vault:1.14';

export function vaultBinaryPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.ASS_VAULT_BIN) return env.ASS_VAULT_BIN;
  return path.join(peersCacheDir(env), 'vault', 'bin', 'vault');
}

export async function startVaultPeer(): Promise<VaultPeerResult> {
  if (await dockerReachable()) {
    try {
      return await startContainer();
    } catch (error) {
      console.warn(`[vault-peer] testcontainers failed (${(error as Error).message}); trying the local binary`);
    }
  }
  const bin = vaultBinaryPath();
  if (!existsSync(bin)) {
    return {
      skipReason: `No Vault server: no Docker engine is reachable and ${bin} does not exist. Run \`${VAULT_INSTALL_HINT}\` (builds Vault from its Go module once, cached outside the repo).`,
    };
  }
  return startLocal(bin);
}


async function startContainer(): Promise<VaultPeer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const token = randomToken();
  const container = await new GenericContainer(VAULT_IMAGE)
    .withEnvironment({ VAULT_DEV_ROOT_TOKEN_ID: token, VAULT_DEV_LISTEN_ADDRESS: '0.0.0.0:8200' })
    .withExposedPorts(8200)
    .withAddedCapabilities('IPC_LOCK')
    .withWaitStrategy(Wait.forHttp('/v1/sys/health', 8200).forStatusCode(200))
    .withStartupTimeout(60_000)
    .start();
  return {
    address: `http://${container.getHost()}:${container.getMappedPort(8200)}`,
    token,
    via: 'testcontainers',
    stop: async () => {
      await container.stop();
    },
  };
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
