/**
 * A Docker engine of the tests' own: Debian's dockerd (scripts/peers/install-docker.sh), started
 * with its own socket, data root, exec root and pidfile, and with no bridge, no iptables rules,
 * no forwarding and no masquerading, so it changes nothing in the host's network; containers run
 * with host networking and talk on loopback.
 *
 * Test files running at the same time share one engine through leases: the first to acquire it
 * starts dockerd, each holder leaves a lease file named by its pid, and the last to release it
 * stops dockerd by its pid and checks that nothing is left (no dockerd, no docker interface, no
 * DOCKER iptables chain, ip_forward as it was). The data root lives in a cache directory outside
 * the repository (`$ASS_DOCKER_CACHE`, default ~/.cache/agent-secret-store/docker), so base
 * images and build layers survive between runs.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DOCKER_INSTALL_HINT = 'bash scripts/peers/install-docker.sh';
export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export function dockerCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ASS_DOCKER_CACHE ?? path.join(homedir(), '.cache', 'agent-secret-store', 'docker');
}

const cache = dockerCacheDir();
const engineDir = path.join(cache, 'engine');
const socketPath = path.join(engineDir, 'docker.sock');
const pidFile = path.join(engineDir, 'dockerd.pid');
const leaseDir = path.join(engineDir, 'leases');
const lockDir = path.join(engineDir, 'lock');
const forwardFile = path.join(engineDir, 'ip_forward.before');

export interface DockerEngine {
  /** `unix://…` of this engine's socket, for DOCKER_HOST. */
  host: string;
  /** The docker CLI that came with dockerd ($ASS_DOCKER_CLI to choose another). */
  cli: string;
  /** The environment for the docker CLI and testcontainers. */
  env: Record<string, string>;
  /** Runs the docker CLI; `env` adds variables (e.g. for `docker exec -e NAME`, so a key is never in argv). */
  docker(args: string[], options?: { timeoutMs?: number; input?: string; env?: Record<string, string> }): Promise<{ stdout: string; stderr: string }>;
  /** Gives the lease back; the last holder stops dockerd and returns what it checked. */
  release(): Promise<LeftBehind | undefined>;
}

/** What the last holder found after stopping dockerd: every list must be empty, both flags false. */
export interface LeftBehind {
  dockerdAlive: boolean;
  interfaces: string[];
  iptablesChains: string[];
  ipForwardChanged: boolean;
  mounts: string[];
}

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir, cmd);
    if (dir && existsSync(candidate)) return candidate;
  }
  return undefined;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A cross-process lock: an atomic mkdir holding the owner's pid; a dead owner's lock is taken over. */
export async function withDirLock<T>(dir: string, minutes: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + minutes * 60_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readPid(path.join(dir, 'pid'));
      if (owner !== undefined && !alive(owner)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`lock ${dir} held by pid ${owner} for ${minutes} minutes`);
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const withLock = <T>(fn: () => Promise<T>): Promise<T> => withDirLock(lockDir, 10, fn);

function liveLeases(): number[] {
  if (!existsSync(leaseDir)) return [];
  const pids: number[] = [];
  for (const name of readdirSync(leaseDir)) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && alive(pid)) pids.push(pid);
    else rmSync(path.join(leaseDir, name), { force: true });
  }
  return pids;
}

async function ping(cli: string, env: Record<string, string>): Promise<boolean> {
  try {
    await run(cli, ['version', '--format', '{{.Server.Version}}'], { env, timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function dockerInterfaces(): string[] {
  return readdirSync('/sys/class/net').filter((n) => /^(docker|br-|veth)/.test(n));
}

async function iptablesDockerChains(): Promise<string[]> {
  const chains: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    if (!which(tool)) continue;
    const { stdout } = await run(tool, [], { timeout: 10_000 }).catch(() => ({ stdout: '' }));
    chains.push(...stdout.split('\n').filter((l) => /DOCKER/.test(l)).map((l) => `${tool}: ${l}`));
  }
  return chains;
}

function ipForward(): string {
  return readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim();
}

/**
 * Acquires the shared engine, starting dockerd when no holder runs it.
 * @throws Error naming the install script when dockerd is not installed.
 */
let acquisitions = 0;

export async function acquireDockerEngine(): Promise<DockerEngine> {
  const dockerd = which('dockerd');
  if (!dockerd) throw new Error(`No Docker engine: dockerd is not installed. Run \`${DOCKER_INSTALL_HINT}\`.`);
  // Debian's docker.io CLI (/usr/bin/docker) matches its dockerd and builds with BuildKit on its
  // own; another docker earlier on PATH may be a newer CLI that wants the buildx plugin.
  const cli = process.env.ASS_DOCKER_CLI ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : which('docker'));
  if (!cli) throw new Error(`No docker CLI. Run \`${DOCKER_INSTALL_HINT}\`.`);
  const host = `unix://${socketPath}`;
  // DOCKER_CONFIG: the CLI's own config dir, so no user's credentials or contexts are read.
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? homedir(),
    DOCKER_HOST: host,
    DOCKER_BUILDKIT: '1',
    DOCKER_CONFIG: path.join(engineDir, 'cli-config'),
  };
  mkdirSync(leaseDir, { recursive: true });
  // One lease per acquisition (a process may hold several), named <pid>-<n> so a dead holder's is dropped.
  const lease = path.join(leaseDir, `${process.pid}-${++acquisitions}`);
  await withLock(async () => {
    const pid = readPid(pidFile);
    if (pid !== undefined && alive(pid) && (await ping(cli, env))) {
      writeFileSync(lease, '');
      return;
    }
    if (pid !== undefined && alive(pid)) await stopDockerd(pid);
    writeFileSync(forwardFile, ipForward());
    rmSync(socketPath, { force: true });
    const log = openSync(path.join(engineDir, 'dockerd.log'), 'a');
    const child = spawn(
      dockerd,
      [
        '--data-root', path.join(cache, 'data'),
        '--exec-root', path.join(engineDir, 'exec'),
        '--pidfile', pidFile,
        '-H', host,
        '--bridge=none', '--iptables=false', '--ip6tables=false', '--ip-forward=false', '--ip-masq=false',
      ],
      { detached: true, stdio: ['ignore', log, log], env: { PATH: env.PATH!, HOME: env.HOME! } },
    );
    child.unref();
    const deadline = Date.now() + 60_000;
    while (!(await ping(cli, env))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        const tail = readFileSync(path.join(engineDir, 'dockerd.log'), 'utf8').split('\n').slice(-8).join('\n');
        if (child.exitCode === null && child.pid) await stopDockerd(child.pid);
        throw new Error(`dockerd did not start (exit ${child.exitCode}):\n${tail}`);
      }
      await sleep(200);
    }
    // A fresh engine runs nothing of anyone's yet: containers still recorded in the data root are
    // leftovers of a run that died before removing them; they go now.
    await run(cli, ['container', 'prune', '-f'], { env, timeout: 60_000 });
    writeFileSync(lease, '');
  });
  let released = false;
  return {
    host,
    cli,
    env,
    docker: async (args, options = {}) => {
      const child = run(cli, args, { env: { ...env, ...options.env }, timeout: options.timeoutMs ?? 120_000, maxBuffer: 256 * 1024 * 1024 });
      if (options.input !== undefined) {
        child.child.stdin?.end(options.input);
      }
      return await child;
    },
    release: async () => {
      if (released) return undefined;
      released = true;
      return await withLock(async () => {
        rmSync(lease, { force: true });
        if (liveLeases().length > 0) return undefined;
        const pid = readPid(pidFile);
        if (pid !== undefined) await stopDockerd(pid);
        const before = existsSync(forwardFile) ? readFileSync(forwardFile, 'utf8').trim() : ipForward();
        return {
          dockerdAlive: pid !== undefined && alive(pid),
          interfaces: dockerInterfaces(),
          iptablesChains: await iptablesDockerChains(),
          ipForwardChanged: ipForward() !== before,
          mounts: engineMounts(),
        };
      });
    },
  };
}

/** SIGTERM, then SIGKILL after 30 s; waits until the pid is gone (a dockerd's containerd goes with it). */
export async function stopDaemonPid(pid: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
    if (Date.now() > deadline + 10_000) throw new Error(`dockerd ${pid} did not exit`);
    await sleep(100);
  }
}

/** Stops this engine's dockerd (stopDaemonPid), then unmounts what it left behind. */
async function stopDockerd(pid: number): Promise<void> {
  await stopDaemonPid(pid);
  // dockerd 20.10 leaves its default network namespace bind-mounted in the exec root: unmount
  // it (and anything else of this engine still mounted), deepest first.
  for (const mount of engineMounts().reverse()) {
    await run('umount', [mount], { timeout: 10_000 }).catch(() => undefined);
  }
}

/** Mount points under this engine's cache directory (none once it has stopped cleanly). */
function engineMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(`${cache}/`));
}

/**
 * Builds the base image the Dockerfile names (scripts/docker/build-base-images.sh), then the
 * image from the repository's Dockerfile, unchanged, tagged `tag`. The machine's CA bundle goes
 * in as the optional `npm_ca` build secret (for a TLS-inspecting proxy before the registry).
 * Builds are serialised across test files by the engine lock; layer caching makes a rebuild of
 * unchanged sources quick.
 */
export async function buildProjectImage(engine: DockerEngine, tag = 'agent-secret-store:test'): Promise<{ tag: string; seconds: number }> {
  return await withImageLock(async () => {
    const started = Date.now();
    await run('bash', [path.join(REPO_ROOT, 'scripts/docker/build-base-images.sh')], { env: { ...process.env, ...engine.env }, timeout: 300_000 });
    const ca = [process.env.SSL_CERT_FILE, '/etc/ssl/certs/ca-certificates.crt'].find((f) => f && existsSync(f));
    await engine.docker(['build', '--network', 'host', ...(ca ? ['--secret', `id=npm_ca,src=${ca}`] : []), '-t', tag, REPO_ROOT], { timeoutMs: 900_000 });
    // The cache directory keeps build layers between runs; the images earlier builds left untagged go.
    await engine.docker(['image', 'prune', '-f']);
    return { tag, seconds: (Date.now() - started) / 1000 };
  });
}

/** Serialises image builds across test files (the base, the project's, the Vault peer's). */
export const withImageLock = <T>(fn: () => Promise<T>): Promise<T> => withDirLock(path.join(engineDir, 'image-lock'), 15, fn);
