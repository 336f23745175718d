/**
 * An emulator of the AWS Secrets Manager API on loopback for integration tests (not AWS itself:
 * what the emulators do not reproduce, such as throttling, is faked in the tests and named so).
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
import { join } from 'node:path';
import { dockerReachable, freePort, peersCacheDir } from './peer-common.js';

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
