/**
 * A throwaway PostgreSQL server for one test file, Debian's server (installed by
 * `scripts/peers/install-postgres.sh`), on one of two paths (a `[postgres-peer] path:` line on
 * stderr and `via` say which):
 *
 * - testcontainers: when a Docker engine the user pointed at answers, or with
 *   `ASS_POSTGRES_PEER=testcontainers` (then the tests' own engine, test/helpers/docker-engine.ts),
 *   from the image scripts/docker/build-postgres-image.sh builds here out of those binaries (no
 *   registry is reachable). stop/start/kill are `docker kill -s INT` / `docker start` /
 *   `docker kill` of the same container on the same port. A peer with `tls` stays on loopback
 *   (its certificate files are replaced between restarts).
 * - otherwise, and with `ASS_POSTGRES_PEER=local`, the loopback fallback below.
 * The tests' own engine is not started unasked: the PostgreSQL suites are many and run often.
 *
 * Loopback: `initdb` in a temporary directory, `pg_ctl` listening on
 * 127.0.0.1 only, its unix socket inside that directory, a superuser password generated per run.
 *
 * PostgreSQL cannot listen on port 0, so a free port is found by binding and releasing one, and
 * a start that loses the race for it ("could not bind") is retried on another port.
 *
 * `initdb` refuses to run as root: as root every server command runs as the `postgres` OS user
 * (through `runuser`), which owns the temporary directory; as a normal user they run directly.
 *
 *   const pg = await startPostgresPeer();
 *   pg.url            // postgres://postgres:<pw>@127.0.0.1:<port>/postgres
 *   await pg.newDatabase()   // url of a fresh, empty database on the same server
 *   await pg.stop(); await pg.start();   // a clean restart on the same port (restart tests)
 *   await pg.kill(); await pg.start();   // a crash (SIGKILL), then crash recovery
 *   await pg.destroy()                   // in afterAll: stop and remove the directory
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { buildPeerImage, containerEngine, startPeerContainer, type ContainerEngine } from './container-peer.js';
import { freePort } from './peer-common.js';

export const POSTGRES_INSTALL_HINT = 'bash scripts/peers/install-postgres.sh';

export interface PostgresPeer {
  /** Superuser URL of the `postgres` database, with the per-run password. */
  url: string;
  host: string;
  port: number;
  user: string;
  password: string;
  /** The temporary directory (data dir, socket dir, server log; empty on the testcontainers path). */
  dir: string;
  /** 'loopback' or 'testcontainers, <image>, <engine> engine'. */
  via: string;
  /** A URL to a new empty database on this server (one per test, to keep tests apart). */
  newDatabase(prefix?: string): Promise<string>;
  /** Starts the server again on the same port after stop() or kill(). */
  start(): Promise<void>;
  /** A clean, fast shutdown (`pg_ctl stop -m fast`): clients see their connections closed. */
  stop(): Promise<void>;
  /** A crash: SIGKILL to the postmaster and its backends; start() then runs crash recovery. */
  kill(): Promise<void>;
  /** Stops the server (if running) and removes the temporary directory. */
  destroy(): Promise<void>;
  /** The last part of the server log, for failure messages. */
  logTail(): string;
  /** With `tls`: writes a new server certificate and key (PEM); the server reads them at its next start(). */
  replaceTls(certPem: string, keyPem: string): Promise<void>;
}

export function postgresBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.ASS_PG_BIN ?? '/usr/lib/postgresql/15/bin';
}

/** Whether the server binaries are installed; the reason (naming the install script) when not. */
export function postgresPeerMissing(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const bin = postgresBinDir(env);
  for (const tool of ['initdb', 'pg_ctl', 'postgres']) {
    if (!existsSync(join(bin, tool))) {
      return `PostgreSQL peer missing: no ${tool} in ${bin}. Install it with: ${POSTGRES_INSTALL_HINT}`;
    }
  }
  return undefined;
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

function postgresOsUser(): { uid: number; gid: number } {
  const out = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gidOut = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (out.status !== 0 || gidOut.status !== 0) {
    throw new Error(
      `running as root, PostgreSQL must run as the 'postgres' OS user, which does not exist. Install the server with: ${POSTGRES_INSTALL_HINT}`,
    );
  }
  return { uid: Number(out.stdout.trim()), gid: Number(gidOut.stdout.trim()) };
}

/** argv that runs a server binary as the right OS user. */
function asServerUser(binary: string, args: string[]): [string, string[]] {
  return isRoot ? ['runuser', ['-u', 'postgres', '--', binary, ...args]] : [binary, args];
}

async function run(binary: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  const [cmd, argv] = asServerUser(binary, args);
  return await new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => (clearTimeout(timer), reject(error)));
    child.once('close', (code) => (clearTimeout(timer), resolve({ code, output })));
  });
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ... ; comm may contain spaces, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

type PeerOptions = { settings?: Record<string, string | number>; tls?: { certPem: string; keyPem: string } };

/** Creates a fresh database through the admin URL `url`; returns its connection URL. */
async function createDatabase(url: string, at: { user: string; password: string; host: string; port: number }, prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return `postgres://${at.user}:${encodeURIComponent(at.password)}@${at.host}:${at.port}/${name}`;
}

export async function startPostgresPeer(options: PeerOptions = {}): Promise<PostgresPeer> {
  const forced = process.env.ASS_POSTGRES_PEER;
  if (forced !== 'local' && options.tls && forced === 'testcontainers') {
    console.warn('[postgres-peer] a peer with TLS stays on loopback (its certificate files are replaced between restarts)');
  } else if (forced !== 'local') {
    const engine = await containerEngine({ startOwn: forced === 'testcontainers' });
    if (engine) {
      const peer = await startPostgresContainer(engine, options);
      console.warn(`[postgres-peer] path: ${peer.via}`);
      return peer;
    }
    if (forced === 'testcontainers') throw new Error('ASS_POSTGRES_PEER=testcontainers, but no Docker engine answers and dockerd is not installed (run `bash scripts/peers/install-docker.sh`)');
  }
  const peer = await startLoopback(options);
  console.warn(`[postgres-peer] path: ${peer.via}`);
  return peer;
}

/** Waits (bounded) until the server takes a query with the superuser password. */
async function waitReady(url: string, describe: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`PostgreSQL did not take a query: ${(error as Error).message}\n${await describe()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function startPostgresContainer(engine: ContainerEngine, options: PeerOptions): Promise<PostgresPeer> {
  if (postgresPeerMissing()) {
    await engine.release();
    throw new Error(`${postgresPeerMissing()} (the image is built from it)`);
  }
  let image: string;
  try {
    image = await buildPeerImage(engine, 'build-postgres-image.sh', { ASS_PG_BIN: postgresBinDir() });
  } catch (error) {
    await engine.release();
    throw error;
  }
  const password = randomBytes(18).toString('base64url');
  const user = 'postgres';
  const container = await startPeerContainer(engine, {
    image,
    namePrefix: 'ass-postgres-peer',
    containerPort: 5432,
    listen: (listen, port) => ({ PG_LISTEN: listen, PGPORT: String(port), POSTGRES_PASSWORD: password }),
    wait: /database system is ready to accept connections/,
    command: Object.entries(options.settings ?? {}).flatMap(([k, v]) => ['-c', `${k}=${String(v).replace(/^'(.*)'$/, '$1')}`]),
    fixedHostPort: true,
  });
  const { host, port } = container;
  const dir = await mkdtemp(join(tmpdir(), 'ass-pg-tc-'));
  const url = `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/postgres`;
  const logs = async () => {
    const { stdout, stderr } = await container.docker(['logs', '--tail', '40', container.id]).catch(() => ({ stdout: '', stderr: '' }));
    return `${stdout}${stderr}`.slice(-3000);
  };
  let lastLogs = '';
  let running = true;
  const halt = async (signal: 'INT' | 'KILL') => {
    if (!running) return;
    // SIGINT is PostgreSQL's fast shutdown (what pg_ctl stop -m fast sends); SIGKILL a crash.
    await container.docker(['kill', '--signal', signal, container.id]).catch(() => undefined);
    await container.docker(['wait', container.id], 120_000);
    lastLogs = await logs();
    running = false;
  };
  try {
    await waitReady(url, logs);
  } catch (error) {
    await container.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const peer: PostgresPeer = {
    url,
    host,
    port,
    user,
    password,
    dir,
    via: `testcontainers, ${image}, ${engine.kind} engine`,
    logTail: () => lastLogs,
    replaceTls: async () => {
      throw new Error('the testcontainers PostgreSQL peer has no TLS: start it with { tls } (that peer runs on loopback)');
    },
    newDatabase: (prefix = 'ass_test') => createDatabase(url, { user, password, host, port }, prefix),
    async start() {
      if (running) return;
      await container.docker(['start', container.id]);
      running = true;
      await waitReady(url, logs);
    },
    stop: () => halt('INT'),
    kill: () => halt('KILL'),
    async destroy() {
      running = false;
      await container.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return peer;
}

async function startLoopback(options: PeerOptions): Promise<PostgresPeer> {
  const missing = postgresPeerMissing();
  if (missing) throw new Error(missing);
  const bin = postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), 'ass-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const logFile = join(dir, 'server.log');
  const password = randomBytes(18).toString('base64url');
  const user = 'postgres';
  const host = '127.0.0.1';

  await mkdir(socketDir);
  await writeFile(join(dir, 'pwfile'), `${password}\n`, { mode: 0o600 });
  await writeFile(logFile, '');
  if (isRoot) {
    const owner = postgresOsUser();
    for (const path of [dir, socketDir, join(dir, 'pwfile'), logFile]) await chown(path, owner.uid, owner.gid);
  }
  await chmod(dir, 0o700);

  const init = await run(join(bin, 'initdb'), [
    '-D', dataDir, '-U', user, '--pwfile', join(dir, 'pwfile'), '--auth', 'scram-sha-256', '-E', 'UTF8', '--locale', 'C', '--no-sync',
  ]);
  await rm(join(dir, 'pwfile'), { force: true });
  // TLS (ssl = on) with the given certificate: the files live in the temp dir, owned by the
  // server's user, the key 0600 as PostgreSQL requires.
  const writeTls = async (certPem: string, keyPem: string) => {
    for (const [name, text] of [['server.crt', certPem], ['server.key', keyPem]] as const) {
      await writeFile(join(dir, name), text, { mode: 0o600 });
      if (isRoot) {
        const owner = postgresOsUser();
        await chown(join(dir, name), owner.uid, owner.gid);
      }
    }
  };
  if (options.tls) await writeTls(options.tls.certPem, options.tls.keyPem);
  if (init.code !== 0) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.code}):\n${init.output}`);
  }

  // Loopback only; the socket in our own directory (never /var/run/postgresql); small memory,
  // since seven suites may run a server at once; no fsync (a test server, thrown away).
  const baseSettings: Record<string, string | number> = {
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${socketDir}'`,
    shared_buffers: "'16MB'",
    max_connections: 200,
    fsync: 'off',
    full_page_writes: 'off',
    ...(options.tls ? { ssl: 'on', ssl_cert_file: `'${join(dir, 'server.crt')}'`, ssl_key_file: `'${join(dir, 'server.key')}'` } : {}),
    ...options.settings,
  };
  const confPath = join(dataDir, 'postgresql.conf');
  const originalConf = await readFile(confPath, 'utf8');
  const writeConf = async (port: number) => {
    const lines = Object.entries({ ...baseSettings, port }).map(([k, v]) => `${k} = ${v}`);
    await writeFile(confPath, `${originalConf}\n# test peer\n${lines.join('\n')}\n`);
  };

  let port = 0;
  let running = false;
  const logTail = () => {
    try {
      return readFileSync(logFile, 'utf8').slice(-3000);
    } catch {
      return '';
    }
  };
  const pgCtlStart = async () => {
    const result = await run(join(bin, 'pg_ctl'), ['start', '-w', '-t', '120', '-D', dataDir, '-l', logFile]);
    return result.code === 0 ? undefined : `${result.output}\n${logTail()}`;
  };

  const killOnExit = () => {
    if (!running) return;
    const [cmd, argv] = asServerUser(join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', dataDir]);
    spawnSync(cmd, argv, { stdio: 'ignore', timeout: 10_000 });
  };
  process.once('exit', killOnExit);

  // Bind-and-release can race with another engineer's server: retry on "could not bind".
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    await writeConf(port);
    const failure = await pgCtlStart();
    if (!failure) break;
    if (attempt < 8 && /could not bind|address already in use|could not create any TCP\/IP sockets/i.test(failure)) continue;
    process.removeListener('exit', killOnExit);
    await rm(dir, { recursive: true, force: true });
    throw new Error(`PostgreSQL did not start (attempt ${attempt}):\n${failure}`);
  }
  running = true;

  const url = `postgres://${user}:${encodeURIComponent(password)}@${host}:${port}/postgres`;

  const postmasterPid = (): number | undefined => {
    try {
      return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return undefined;
    }
  };

  const peer: PostgresPeer = {
    url,
    host,
    port,
    user,
    password,
    dir,
    via: 'loopback',
    logTail,
    replaceTls: writeTls,
    newDatabase: (prefix = 'ass_test') => createDatabase(url, { user, password, host, port }, prefix),
    async start() {
      if (running) return;
      const failure = await pgCtlStart();
      if (failure) throw new Error(`PostgreSQL did not restart on port ${port}:\n${failure}`);
      running = true;
    },
    async stop() {
      if (!running) return;
      const result = await run(join(bin, 'pg_ctl'), ['stop', '-m', 'fast', '-w', '-t', '120', '-D', dataDir]);
      if (result.code !== 0) throw new Error(`pg_ctl stop failed:\n${result.output}`);
      running = false;
    },
    async kill() {
      if (!running) return;
      const pid = postmasterPid();
      if (pid && alive(pid)) {
        const children = childrenOf(pid);
        process.kill(pid, 'SIGKILL');
        for (const child of children) {
          try {
            process.kill(child, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        // Bounded wait for the processes to vanish (start() would otherwise find the shared
        // memory still attached and refuse).
        for (let i = 0; i < 200 && [pid, ...children].some(alive); i++) await new Promise((r) => setTimeout(r, 50));
      }
      running = false;
    },
    async destroy() {
      process.removeListener('exit', killOnExit);
      if (running) {
        const result = await run(join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-w', '-t', '60', '-D', dataDir]);
        if (result.code !== 0) await peer.kill();
        running = false;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  return peer;
}
