/**
 * Fixtures for the remote suites: a temp config (file backend, agents, one admin), the HTTP
 * server in-process on 127.0.0.1:0, or as a separate `serve --http` process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKeyFile } from '../../src/adapters/file/index.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../../src/server/keys.js';
import { createLogger } from '../../src/server/logger.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { startHttpServer, type HttpServerHandle } from '../../src/server/http/server.js';
import { resolveHttpOptions } from '../../src/server/http/options.js';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export interface AgentSpec {
  id: string;
  grants: string[];
  deny?: string[];
  tools?: string[];
}

export interface RemoteConfig {
  dir: string;
  configPath: string;
  /** agent id → key (plaintext, for the test only). */
  keys: Record<string, string>;
  adminKey: string;
  cleanup(): Promise<void>;
}

export interface ConfigOptions {
  agents: AgentSpec[];
  http?: Record<string, unknown>;
  policy?: Record<string, unknown>;
  server?: Record<string, unknown>;
  /** The `dashboard:` block (e.g. public_url for deep links). */
  dashboard?: Record<string, unknown>;
  /** Extra backend block instead of the file backend. */
  backend?: Record<string, unknown>;
  /** More top-level config blocks (e.g. `approvals`). */
  extra?: Record<string, unknown>;
}

/** Writes a config (JSON is YAML) with a file backend and fresh keys. */
export async function makeConfig(options: ConfigOptions): Promise<RemoteConfig> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ass-remote-'));
  await createKeyFile(path.join(dir, 'store.key'));
  const keys: Record<string, string> = {};
  const agents = options.agents.map((a) => {
    keys[a.id] = generateAgentKey();
    return { id: a.id, key_sha256: hashKey(keys[a.id]!), grants: a.grants, deny: a.deny ?? [], ...(a.tools ? { tools: a.tools } : {}) };
  });
  const adminKey = generateAdminKey();
  const config = {
    version: 1,
    data_dir: '.',
    backend: options.backend ?? { type: 'file', path: './secrets', key_file: './store.key' },
    server: { log_level: 'warn', ...(options.server ?? {}) },
    ...(options.policy ? { policy: options.policy } : {}),
    ...(options.http ? { http: options.http } : {}),
    ...(options.dashboard ? { dashboard: options.dashboard } : {}),
    ...(options.extra ?? {}),
    admins: [{ id: 'admin', key_sha256: hashKey(adminKey) }],
    agents,
  };
  const configPath = path.join(dir, 'config.yaml');
  await writeFile(configPath, JSON.stringify(config, null, 2), { mode: 0o600 });
  return { dir, configPath, keys, adminKey, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export interface InProcessServer extends RemoteConfig {
  runtime: Runtime;
  handle: HttpServerHandle;
  url: string;
  close(): Promise<void>;
}

/** The HTTP server in this process on 127.0.0.1:0. */
export async function startInProcess(options: ConfigOptions): Promise<InProcessServer> {
  const config = await makeConfig(options);
  const settings = loadSettings(config.configPath, {});
  const runtime = await openRuntime(settings, createLogger('error'));
  const handle = await startHttpServer(runtime, resolveHttpOptions(settings.config.http, { host: '127.0.0.1', port: 0 }));
  return {
    ...config,
    runtime,
    handle,
    url: handle.url,
    async close() {
      await handle.close();
      await runtime.close();
      await config.cleanup();
    },
  };
}

/** The built CLI; a missing build fails loudly instead of silently running something else. */
export function builtCli(): string {
  const cli = path.join(REPO_ROOT, 'dist/cli/main.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first (npm test does).`);
  return cli;
}

export interface SpawnedServer {
  url: string;
  child: ChildProcess;
  stderr(): string;
  stop(): Promise<void>;
}

/**
 * `agent-secret-store serve --http --port 0` as its own process, from the built
 * `dist/cli/main.js` that users run (`npm run build` first; `npm test` does); resolves once it
 * listens.
 */
export async function spawnHttpServer(configPath: string, env: Record<string, string> = {}): Promise<SpawnedServer> {
  const child = spawn(process.execPath, [builtCli(), '--config', configPath, 'serve', '--http', '--port', '0'], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s; stderr:\n${err}`)), 60_000);
    child.stderr!.on('data', () => {
      const m = /listening on (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}; stderr:\n${err}`));
    });
  });
  return {
    url,
    child,
    stderr: () => err,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
