/**
 * A second Docker engine in its default **bridge** network mode (what users' CI runs), kept off
 * the host's network: the test makes a network namespace of its own (`ip netns add`, loopback up
 * inside), starts Debian's dockerd inside it (`nsenter --net`, so its docker0 bridge, veth pairs,
 * iptables chains, ip_forward and docker-proxy listeners all live in that namespace), and runs
 * whatever must reach the containers (a consumer test project) inside the same namespace, where
 * `getMappedPort` works as on any CI machine.
 *
 * It has its own data root (a cache directory beside the shared engine's, so images loaded once
 * survive between runs), exec root, pidfile and socket. Images come from the shared engine with
 * `docker save | docker load`, only when the image id differs.
 *
 * `stop()` stops dockerd by its pid, unmounts what it left mounted, deletes the namespace, and
 * returns what it found on the HOST compared with before the start: new interfaces, changed
 * iptables rules (v4 and v6), ip_forward, a dockerd still alive, the namespace still listed.
 * Needs root (creating a namespace); the reason is thrown otherwise.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { alive, dockerCacheDir, stopDaemonPid, withDirLock, type DockerEngine } from './docker-engine.js';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface HostNetworkState {
  interfaces: string[];
  iptables: string;
  ipForward: string;
  namespaces: string[];
}

/** What stop() found on the host: every list empty and every flag false when nothing was left. */
export interface BridgeLeftBehind {
  dockerdAlive: boolean;
  newInterfaces: string[];
  iptablesChanged: boolean;
  ipForwardChanged: boolean;
  namespaceLeft: boolean;
  mounts: string[];
}

export interface BridgeEngine {
  /** The namespace's name (`ip netns list`). */
  namespace: string;
  /** DOCKER_HOST and the CLI config for this engine. */
  env: Record<string, string>;
  docker(args: string[], options?: { timeoutMs?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Runs a command inside the namespace (the network only; the file system is the host's). */
  runInside(command: string, args: string[], options: { cwd?: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<{ stdout: string; stderr: string; code: number }>;
  /** The bridge's interfaces and iptables rules inside the namespace (proof that it is bridge mode). */
  insideNetwork(): Promise<{ interfaces: string[]; iptables: string }>;
  stop(): Promise<BridgeLeftBehind>;
}

const PREFIX = 'ass-bridge-';

/** iptables-save output without its comments and packet counters: the rules themselves. */
async function iptablesRules(netns?: string): Promise<string> {
  const out: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    const cmd = netns ? ['ip', ['netns', 'exec', netns, tool]] as const : [tool, []] as const;
    const { stdout } = await run(cmd[0], [...cmd[1]], { timeout: 20_000 }).catch(() => ({ stdout: '' }));
    out.push(...stdout.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => `${tool}: ${l.replace(/\[\d+:\d+\]/g, '')}`));
  }
  return out.join('\n');
}

async function namespaces(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { timeout: 10_000 });
  return stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

export async function hostNetworkState(): Promise<HostNetworkState> {
  return {
    interfaces: readdirSync('/sys/class/net').sort(),
    iptables: await iptablesRules(),
    ipForward: readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim(),
    namespaces: await namespaces(),
  };
}

function mountsUnder(prefixes: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => prefixes.some((p) => point.startsWith(`${p}/`)));
}

/** Namespaces of earlier runs whose test process died: their dockerd is stopped and they go. */
async function removeStale(cache: string): Promise<void> {
  for (const name of await namespaces()) {
    const owner = Number(name.slice(PREFIX.length).split('-')[0]);
    if (!name.startsWith(PREFIX) || (Number.isInteger(owner) && alive(owner))) continue;
    const { stdout } = await run('ip', ['netns', 'pids', name], { timeout: 10_000 }).catch(() => ({ stdout: '' }));
    for (const pid of stdout.split('\n').map(Number).filter((p) => p > 0)) await stopDaemonPid(pid).catch(() => undefined);
    for (const mount of mountsUnder([cache]).reverse()) await run('umount', [mount]).catch(() => undefined);
    await run('ip', ['netns', 'del', name], { timeout: 10_000 }).catch(() => undefined);
  }
}

/**
 * Starts dockerd in bridge mode inside a new network namespace and loads `images` into it from
 * the shared engine. Serialised across processes (one bridge engine at a time uses the data root).
 */
export async function startBridgeEngine(shared: DockerEngine, images: string[]): Promise<BridgeEngine> {
  if (process.getuid?.() !== 0) throw new Error('the bridge-mode engine needs root (it creates a network namespace with `ip netns add`)');
  const cache = path.join(dockerCacheDir(), 'bridge');
  mkdirSync(cache, { recursive: true });
  const lockDir = path.join(cache, 'lock');
  let releaseLock!: () => void;
  const lockHeld = new Promise<void>((resolve) => (releaseLock = resolve));
  let locked!: () => void;
  const gotLock = new Promise<void>((resolve) => (locked = resolve));
  const lockDone = withDirLock(lockDir, 30, async () => {
    locked();
    await lockHeld;
  });
  await Promise.race([gotLock, lockDone]);

  await removeStale(cache);
  const before = await hostNetworkState();
  const namespace = `${PREFIX}${process.pid}-${randomBytes(3).toString('hex')}`;
  const exec = mkdtempSync(path.join(tmpdir(), 'ass-bridge-exec-'));
  const socket = path.join(exec, 'docker.sock');
  const pidFile = path.join(exec, 'dockerd.pid');
  const host = `unix://${socket}`;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DOCKER_HOST: host, DOCKER_CONFIG: path.join(exec, 'cli-config') };
  const cli = existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker';
  const docker = async (args: string[], options: { timeoutMs?: number } = {}) =>
    await run(cli, args, { env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  let dockerdPid: number | undefined;

  const stop = async (): Promise<BridgeLeftBehind> => {
    try {
      if (dockerdPid !== undefined) await stopDaemonPid(dockerdPid);
      for (const mount of mountsUnder([exec, cache]).reverse()) await run('umount', [mount]).catch(() => undefined);
      await run('ip', ['netns', 'del', namespace], { timeout: 10_000 }).catch(() => undefined);
      const after = await hostNetworkState();
      return {
        dockerdAlive: dockerdPid !== undefined && alive(dockerdPid),
        newInterfaces: after.interfaces.filter((i) => !before.interfaces.includes(i)),
        iptablesChanged: after.iptables !== before.iptables,
        ipForwardChanged: after.ipForward !== before.ipForward,
        namespaceLeft: after.namespaces.includes(namespace),
        mounts: mountsUnder([exec, cache]),
      };
    } finally {
      rmSync(exec, { recursive: true, force: true });
      releaseLock();
      await lockDone;
    }
  };

  try {
    await run('ip', ['netns', 'add', namespace], { timeout: 10_000 });
    await run('ip', ['netns', 'exec', namespace, 'ip', 'link', 'set', 'lo', 'up'], { timeout: 10_000 });
    const log = openSync(path.join(exec, 'dockerd.log'), 'a');
    // Defaults on purpose: the bridge, iptables, forwarding and masquerading, all inside the namespace.
    const child = spawn('nsenter', [`--net=/run/netns/${namespace}`, 'dockerd', '--data-root', path.join(cache, 'data'), '--exec-root', path.join(exec, 'exec'), '--pidfile', pidFile, '-H', host], {
      detached: true,
      stdio: ['ignore', log, log],
      env: { PATH: env.PATH!, HOME: env.HOME! },
    });
    child.unref();
    dockerdPid = child.pid; // nsenter execs dockerd: the same pid
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (await docker(['version'], { timeoutMs: 5_000 }).then(() => true, () => false)) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`dockerd in ${namespace} did not start (exit ${child.exitCode}):\n${readFileSync(path.join(exec, 'dockerd.log'), 'utf8').split('\n').slice(-8).join('\n')}`);
      }
      await sleep(200);
    }
    await docker(['container', 'prune', '-f']);
    for (const image of images) {
      const want = (await shared.docker(['image', 'inspect', '-f', '{{.Id}}', image])).stdout.trim();
      const have = (await docker(['image', 'inspect', '-f', '{{.Id}}', image]).catch(() => ({ stdout: '' }))).stdout.trim();
      if (want === have) continue;
      await run('bash', ['-o', 'pipefail', '-c', `"$CLI" --host "$FROM" save "$IMAGE" | "$CLI" --host "$TO" load -q`], {
        env: { ...env, CLI: cli, FROM: shared.host, TO: host, IMAGE: image },
        timeout: 600_000,
      });
    }
    await docker(['image', 'prune', '-f']);
  } catch (error) {
    const left = await stop();
    throw new Error(`${(error as Error).message}\n(after cleanup: ${JSON.stringify(left)})`);
  }

  return {
    namespace,
    env,
    docker,
    runInside: (command, args, options) =>
      new Promise((resolve) => {
        const child = spawn('nsenter', [`--net=/run/netns/${namespace}`, '--', command, ...args], { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
        child.once('close', (code) => {
          clearTimeout(timer);
          resolve({ stdout, stderr, code: code ?? -1 });
        });
      }),
    insideNetwork: async () => {
      const { stdout } = await run('ip', ['netns', 'exec', namespace, 'ip', '-o', 'link'], { timeout: 10_000 });
      return { interfaces: stdout.split('\n').map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '').filter(Boolean), iptables: await iptablesRules(namespace) };
    },
    stop,
  };
}
