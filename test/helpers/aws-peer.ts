/**
 * A real AWS Secrets Manager API on loopback for integration tests.
 *
 * - LocalStack through testcontainers, only when a Docker engine answers a ping quickly;
 * - otherwise moto's server from the venv `scripts/peers/install-moto.sh` installs (cached
 *   outside the repo under `$ASS_PEERS_CACHE` or `~/.cache/agent-secret-store/peers`);
 * - neither: `{ skipReason }` naming the install script.
 *
 * Credentials are random per run: both peers accept any, and nothing real is ever used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, connect } from 'node:net';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface AwsPeer {
  /** e.g. http://127.0.0.1:41234 */
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** 'moto' or 'localstack', for messages. */
  kind: string;
  stop(): Promise<void>;
}

export const MOTO_INSTALL_HINT = 'bash scripts/peers/install-moto.sh';
const LOCALSTACK_IMAGE = process.env.ASS_LOCALSTACK_IMAGE ?? 'localstack/localstack:3.8.1';
const REGION = 'us-east-1';

function randomCredentials(): AwsPeer['credentials'] {
  return {
    accessKeyId: `ASIATEST${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(20).toString('base64url'),
  };
}

export function peersCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ASS_PEERS_CACHE ?? join(homedir(), '.cache', 'agent-secret-store', 'peers');
}

/** Answers within ~1 s whether a Docker engine responds to `/_ping`; never hangs. */
export async function dockerReachable(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const host = env.DOCKER_HOST;
  if (host?.startsWith('tcp://')) {
    const url = new URL(host.replace(/^tcp:/, 'http:'));
    return await new Promise<boolean>((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port || 2375), timeout: 1000 });
      socket.once('connect', () => (socket.destroy(), resolve(true)));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(false));
    });
  }
  const candidates = host?.startsWith('unix://')
    ? [host.slice('unix://'.length)]
    : [
        '/var/run/docker.sock',
        join(homedir(), '.docker', 'run', 'docker.sock'),
        ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'docker.sock')] : []),
      ];
  for (const socketPath of candidates.filter((p) => existsSync(p))) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ socketPath, path: '/_ping', method: 'GET', timeout: 1000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.once('timeout', () => (req.destroy(), resolve(false)));
      req.once('error', () => resolve(false));
      req.end();
    });
    if (ok) return true;
  }
  return false;
}

async function freePort(): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode} before answering`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`moto_server did not answer at ${url} within ${deadlineMs} ms`);
}

async function startMoto(): Promise<AwsPeer | { skipReason: string }> {
  const bin = join(peersCacheDir(), 'moto-venv', 'bin', 'moto_server');
  if (!existsSync(bin)) {
    return {
      skipReason: `AWS peer missing: no Docker engine for LocalStack and no moto server at ${bin}. Install it with: ${MOTO_INSTALL_HINT}`,
    };
  }
  const port = await freePort();
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-2000);
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  };
  try {
    await waitForHttp(`${endpoint}/moto-api/`, child, 20_000);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  return { endpoint, region: REGION, credentials: randomCredentials(), kind: 'moto', stop };
}

async function startLocalStack(): Promise<AwsPeer> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer(LOCALSTACK_IMAGE)
    .withEnvironment({ SERVICES: 'secretsmanager' })
    .withExposedPorts(4566)
    .withWaitStrategy(Wait.forHttp('/_localstack/health', 4566).forStatusCode(200))
    .withStartupTimeout(120_000)
    .start();
  return {
    endpoint: `http://${container.getHost()}:${container.getMappedPort(4566)}`,
    region: REGION,
    credentials: randomCredentials(),
    kind: 'localstack',
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * Starts a peer, or says why none can run. LocalStack is used only when Docker answers; a
 * failure to start moto once installed is thrown (a broken peer is not a missing one).
 */
export async function startAwsPeer(): Promise<AwsPeer | { skipReason: string }> {
  if (await dockerReachable()) return await startLocalStack();
  return await startMoto();
}
