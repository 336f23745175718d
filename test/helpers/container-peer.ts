/**
 * The testcontainers path of the test peers (Vault, moto, PostgreSQL): which engine to use, the
 * image built here by one of scripts/docker/build-*-image.sh (no registry is reachable), and a
 * started container with its address as the tests reach it.
 *
 * - An engine the user pointed at (DOCKER_HOST or /var/run/docker.sock) answers: bridge
 *   networking, the port is mapped (`ASS_TESTCONTAINERS_NETWORK_MODE=host` for host networking).
 * - Else the tests' own engine (test/helpers/docker-engine.ts: Debian's dockerd, no bridge,
 *   nothing left behind): host networking on a free loopback port.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { acquireDockerEngine, REPO_ROOT, withImageLock, type DockerEngine } from './docker-engine.js';
import { dockerReachable, freePort } from './peer-common.js';

const run = promisify(execFile);

export interface ContainerEngine {
  kind: 'external' | 'own';
  env: Record<string, string>;
  hostNetwork: boolean;
  release(): Promise<void>;
}

// The engine the user pointed at, before a peer points testcontainers at our own.
const USER_DOCKER_HOST = process.env.DOCKER_HOST;

/** Whether an engine the user pointed at answers (not the tests' own). */
export async function externalEngineAnswers(): Promise<boolean> {
  return await dockerReachable({ ...process.env, DOCKER_HOST: USER_DOCKER_HOST });
}

/** An engine that already answers (bridge networking), else the tests' own (host networking), else none. */
export async function containerEngine(options: { startOwn?: boolean } = {}): Promise<ContainerEngine | undefined> {
  if (await externalEngineAnswers()) return { kind: 'external', env: {}, hostNetwork: process.env.ASS_TESTCONTAINERS_NETWORK_MODE === 'host', release: async () => undefined };
  if (options.startOwn === false) return undefined;
  let own: DockerEngine;
  try {
    own = await acquireDockerEngine();
  } catch {
    return undefined;
  }
  return { kind: 'own', env: own.env, hostNetwork: true, release: async () => void (await own.release()) };
}

/** Runs scripts/docker/<script> against the engine (serialised with the other image builds) and returns the tag it prints. */
export async function buildPeerImage(engine: ContainerEngine, script: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await withImageLock(() =>
    run('bash', [path.join(REPO_ROOT, 'scripts/docker', script)], { env: { ...process.env, ...engine.env, ...env }, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 }).catch((error: { stderr?: string }) => {
      throw new Error(`scripts/docker/${script} failed: ${error.stderr?.trim().split('\n').slice(-3).join(' | ') ?? String(error)}`);
    }),
  );
  return stdout.trim().split('\n').pop()!;
}

/**
 * Points testcontainers at the engine. It reads these once per process: the engine, no reaper
 * (its image cannot be pulled; stop() removes the container), and the address the tests reach it
 * at. DOCKER_HOST is set only while the client is made, so other peers' engine checks still see
 * the user's environment, not our engine.
 */
export async function testcontainersFor(engine: ContainerEngine): Promise<typeof import('testcontainers')> {
  process.env.TESTCONTAINERS_RYUK_DISABLED ??= 'true';
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
  const tc = await import('testcontainers');
  if (engine.kind === 'own') {
    process.env.DOCKER_HOST = engine.env.DOCKER_HOST;
    try {
      await tc.getContainerRuntimeClient();
    } finally {
      if (USER_DOCKER_HOST === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = USER_DOCKER_HOST;
    }
  }
  return tc;
}

export interface PeerContainer {
  /** host:port as the tests reach the service. */
  host: string;
  port: number;
  image: string;
  /** The container's id, for `docker(…)` (stop without removing, start again, kill). */
  id: string;
  /** Runs the docker CLI against the container's engine. */
  docker(args: string[], timeoutMs?: number): Promise<{ stdout: string; stderr: string }>;
  /** Removes the container and gives the engine back. */
  stop(): Promise<void>;
}

/** Debian's docker.io CLI matches the tests' own dockerd; another docker on PATH otherwise. */
export const DOCKER_CLI = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';

/**
 * Starts `image` with the service listening on `containerPort` (bridge) or on a free loopback
 * port (host networking; `listen(port)` gives the environment that tells the service its port).
 * Named, so a start that fails half-way (no reaper runs here) is removed, not left behind.
 */
export async function startPeerContainer(
  engine: ContainerEngine,
  options: {
    image: string;
    namePrefix: string;
    containerPort: number;
    listen: (host: string, port: number) => Record<string, string>;
    wait: RegExp;
    user?: string;
    command?: string[];
    tmpfs?: Record<string, string>;
    /** Bridge networking: map to a fixed free host port, so a `docker start` after a stop keeps it. */
    fixedHostPort?: boolean;
  },
): Promise<PeerContainer> {
  const { GenericContainer, Wait } = await testcontainersFor(engine);
  const port = engine.hostNetwork ? await freePort() : options.containerPort;
  let container = new GenericContainer(options.image)
    .withEnvironment(options.listen(engine.hostNetwork ? '127.0.0.1' : '0.0.0.0', port))
    .withWaitStrategy(Wait.forLogMessage(options.wait))
    .withStartupTimeout(120_000);
  if (options.user) container = container.withUser(options.user);
  if (options.command) container = container.withCommand(options.command);
  if (options.tmpfs) container = container.withTmpFs(options.tmpfs);
  container = engine.hostNetwork
    ? container.withNetworkMode('host')
    : container.withExposedPorts(options.fixedHostPort ? { container: options.containerPort, host: await freePort() } : options.containerPort);
  const name = `${options.namePrefix}-${randomBytes(6).toString('hex')}`;
  const started = await container.withName(name).start().catch(async (error: unknown) => {
    await run(DOCKER_CLI, ['rm', '-f', name], { env: { ...process.env, ...engine.env }, timeout: 60_000 }).catch(() => undefined);
    await engine.release();
    throw error;
  });
  return {
    host: engine.hostNetwork ? '127.0.0.1' : started.getHost(),
    port: engine.hostNetwork ? port : started.getMappedPort(options.containerPort),
    image: options.image,
    id: started.getId(),
    docker: async (args, timeoutMs = 120_000) => await run(DOCKER_CLI, args, { env: { ...process.env, ...engine.env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }),
    stop: async () => {
      try {
        await started.stop();
      } finally {
        await engine.release();
      }
    },
  };
}
