/**
 * Real-process helpers for the e2e, security and packaging suites: build the CLI once, run it
 * as a separate process, create a home with `init`, edit its YAML, and connect an SDK `Client`
 * to the built server over real stdio pipes. Nothing of ours is mocked.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { parseDocument } from 'yaml';

export const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(REPO_ROOT, 'dist/cli/main.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

function isFresh(): boolean {
  // The bundle's build script makes dist/ as much as src/ does.
  const bundleScript = statSync(path.join(REPO_ROOT, 'scripts/bundle.mjs')).mtimeMs;
  return existsSync(CLI) && statSync(CLI).mtimeMs >= Math.max(newestMtime(path.join(REPO_ROOT, 'src')), bundleScript);
}

/**
 * Makes sure dist/ is built and newer than every file in src/. Builds at most once per run even
 * when several test files (in several workers) ask at once: a directory lock serialises them,
 * and whoever gets it second finds the build fresh.
 */
export function ensureBuilt(): Promise<void> {
  // Once per test process: a rebuild in the middle of a run would pull dist/ from under
  // servers other tests are starting.
  built ??= buildOnce();
  return built;
}

let built: Promise<void> | undefined;

async function buildOnce(): Promise<void> {
  if (isFresh()) return;
  const lock = path.join(tmpdir(), 'ass-e2e-build.lock');
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A stale lock (a crashed run) older than 3 minutes is taken over.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 180_000) rmSync(lock, { recursive: true, force: true });
      } catch { /* gone already */ }
      if (Date.now() > deadline) throw new Error(`Timed out waiting for the build lock ${lock}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    if (isFresh()) return;
    // Other engineers edit src/ at the same time: a build caught between two of their saves is
    // retried once, a few seconds later, before the failure is reported.
    let result = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 170_000 });
    if (result.status !== 0) {
      await new Promise((r) => setTimeout(r, 5_000));
      result = spawnSync('npm', ['run', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 170_000 });
    }
    if (result.status !== 0) throw new Error(`npm run build failed:\n${result.stdout}\n${result.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/** The parent's environment without any ASS_* variable, so tests say exactly what they pass. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('ASS_')) env[k] = v;
  for (const [k, v] of Object.entries(extra)) if (v !== undefined) env[k] = v;
  return env;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js ...args` as its own process; never rejects on a non-zero exit. */
export function runCli(args: string[], options: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, env: baseEnv(options.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Runs a human CLI command with the admin key against `home`; `--config` is added. */
export function admin(home: Home, args: string[], options: { key?: string; input?: string } = {}): Promise<CliResult> {
  return runCli(['--config', home.configPath, ...args], { env: { ...home.env, ASS_ADMIN_KEY: options.key ?? home.adminKey }, input: options.input });
}

/** Like `admin` with `--json`, failing loudly on a non-zero exit, and parsing stdout. */
export async function adminJson<T = any>(home: Home, args: string[], options: { key?: string } = {}): Promise<T> {
  const result = await admin(home, [...args, '--json'], options);
  if (result.code !== 0) throw new Error(`\`${args.join(' ')}\` exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

export interface Home {
  dir: string;
  configPath: string;
  agentKey: string;
  adminKey: string;
  /** Extra environment every command on this home needs (e.g. a backend's credentials). */
  env?: Record<string, string>;
}

/** A fresh temp dir; removed by `cleanup()`. */
export async function tempDir(prefix = 'ass-e2e-'): Promise<string> {
  return mkdtemp(path.join(tmpdir(), prefix));
}

/** `init --dir <tmp>/home --json` in its own process; `edit` may then change config fields. */
export async function initHome(edit?: Record<string, unknown>): Promise<Home> {
  await ensureBuilt();
  const root = await tempDir();
  const dir = path.join(root, 'home');
  const result = await runCli(['init', '--dir', dir, '--json']);
  if (result.code !== 0) throw new Error(`init failed (${result.code}): ${result.stderr}`);
  const out = JSON.parse(result.stdout) as { config_path: string; agent_key: string; admin_key: string };
  const home = { dir, configPath: out.config_path, agentKey: out.agent_key, adminKey: out.admin_key };
  if (edit) await setConfig(home.configPath, edit);
  return home;
}

/**
 * Sets config fields by dotted path (`approvals.pending_ttl` → '2s'), keeping comments.
 * A value of `undefined` deletes the field.
 */
export async function setConfig(configPath: string, fields: Record<string, unknown>): Promise<void> {
  const doc = parseDocument(await readFile(configPath, 'utf8'));
  for (const [dotted, value] of Object.entries(fields)) {
    const keyPath = dotted.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p));
    if (value === undefined) doc.deleteIn(keyPath);
    else doc.setIn(keyPath, doc.createNode(value));
  }
  await writeFile(configPath, doc.toString(), { mode: 0o600 });
}

/** `agents add <id> --grant ... --json` through the CLI; returns the new agent key. */
export async function addAgent(home: Home, id: string, grants: string[], extra: string[] = []): Promise<string> {
  const out = await adminJson<{ agent_key: string }>(home, ['agents', 'add', id, ...grants.flatMap((g) => ['--grant', g]), ...extra]);
  return out.agent_key;
}

export interface AgentConnection {
  client: Client;
  /** Everything the server wrote to stderr so far. */
  stderr(): string;
  pid: number | null;
  close(): Promise<void>;
}

/**
 * Spawns the built server (`node dist/cli/main.js --config <file>`) with ASS_AGENT_KEY and
 * connects an SDK Client to it over stdio. The server's stderr is captured, not inherited.
 */
export async function connectAgent(configPath: string, agentKey: string, options: { env?: Record<string, string | undefined>; args?: string[] } = {}): Promise<AgentConnection> {
  await ensureBuilt();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, '--config', configPath, ...(options.args ?? [])],
    env: baseEnv({ ASS_AGENT_KEY: agentKey, ...options.env }),
    cwd: REPO_ROOT,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'e2e-test', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    throw new Error(`connect failed: ${(error as Error).message}; server stderr: ${stderr}`);
  }
  return { client, stderr: () => stderr, pid: transport.pid, close: () => client.close() };
}

export type CallOutcome = { ok: true; data: any; text: string } | { ok: false; error: string; code?: string };

/** Calls a tool: parsed structuredContent on success, the error text (and code) otherwise. */
export async function call(client: Client, tool: string, args: Record<string, unknown> = {}): Promise<CallOutcome> {
  try {
    const result = await client.callTool({ name: tool, arguments: args });
    const text = (result.content as { type: string; text?: string }[] | undefined)?.map((c) => c.text ?? '').join('\n') ?? '';
    if (result.isError) {
      const meta = (result._meta as Record<string, { code?: string }> | undefined)?.['agent-secret-store/error'];
      return { ok: false, error: text, ...(meta?.code ? { code: meta.code } : {}) };
    }
    return { ok: true, data: result.structuredContent, text };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

/** `call` that must succeed; returns the structured content. */
export async function ok(client: Client, tool: string, args: Record<string, unknown> = {}): Promise<any> {
  const outcome = await call(client, tool, args);
  if (!outcome.ok) throw new Error(`${tool} failed: ${outcome.error}`);
  return outcome.data;
}

/** `call` that must fail; returns the error text and code. */
export async function fails(client: Client, tool: string, args: Record<string, unknown> = {}): Promise<{ error: string; code?: string }> {
  const outcome = await call(client, tool, args);
  if (outcome.ok) throw new Error(`${tool} unexpectedly succeeded: ${outcome.text}`);
  return outcome;
}

export const APPROVAL_ERROR = /^Error: Human approval required\. Approval ID: ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\. Use get_approval_status/;

/** The approval id in an APPROVAL_REQUIRED error text (throws if it is not one). */
export function approvalIdOf(error: string): string {
  const match = APPROVAL_ERROR.exec(error);
  if (!match) throw new Error(`not an approval-required error: ${error}`);
  return match[1]!;
}

/**
 * Writes a secret that needs a human for the write itself (a critical one): set_secret opens an
 * approval, a separate CLI process approves it with the admin key, and set_secret is retried.
 */
export async function setWithApproval(client: Client, home: Home, args: Record<string, unknown>): Promise<any> {
  const first = await call(client, 'set_secret', args);
  if (first.ok) return first.data;
  const id = approvalIdOf(first.error);
  const approved = await admin(home, ['approvals', 'approve', id]);
  if (approved.code !== 0) throw new Error(`approve failed: ${approved.stderr}`);
  return ok(client, 'set_secret', args);
}

/** Polls `check` (bounded) until it returns true; for a real process that must change state. */
export async function pollUntil(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Decodes a JWT's payload (no verification: the test only reads claims). */
export function jwtPayload(token: string): Record<string, any> {
  const part = token.split('.')[1];
  if (!part) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Every regular file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/** Removes the temp root a Home lives in. */
export function removeHome(home: Home | undefined): void {
  if (home) rmSync(path.dirname(home.dir), { recursive: true, force: true });
}

/**
 * A client transport that spawns the server itself and records every byte of its stdout, so a
 * test can inspect the raw JSON-RPC stream (not only what the SDK client surfaces).
 */
export class RecordingStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly stdoutChunks: Buffer[] = [];
  readonly stderrChunks: Buffer[] = [];
  /** Every message the server sent, parsed, with the raw line it came in. */
  readonly received: { message: JSONRPCMessage }[] = [];
  readonly sent: JSONRPCMessage[] = [];
  private child?: ChildProcess;
  private readonly buffer = new ReadBuffer();

  constructor(private readonly params: { args: string[]; env: Record<string, string> }) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [CLI, ...this.params.args], { cwd: REPO_ROOT, env: this.params.env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => {
      this.stdoutChunks.push(chunk);
      this.buffer.append(chunk);
      for (;;) {
        let message: JSONRPCMessage | null;
        try {
          message = this.buffer.readMessage();
        } catch (error) {
          this.onerror?.(error as Error);
          continue;
        }
        if (!message) break;
        this.received.push({ message });
        this.onmessage?.(message);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => this.stderrChunks.push(chunk));
    child.on('error', (error) => this.onerror?.(error));
    child.on('close', () => this.onclose?.());
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    this.sent.push(message);
    await new Promise<void>((resolve) => {
      if (this.child!.stdin!.write(serializeMessage(message))) resolve();
      else this.child!.stdin!.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }

  stdout(): Buffer {
    return Buffer.concat(this.stdoutChunks);
  }

  stderr(): Buffer {
    return Buffer.concat(this.stderrChunks);
  }
}

/** Connects an SDK Client through a RecordingStdioTransport. */
export async function connectRecording(configPath: string, agentKey: string): Promise<{ client: Client; transport: RecordingStdioTransport }> {
  await ensureBuilt();
  const transport = new RecordingStdioTransport({ args: ['--config', configPath], env: baseEnv({ ASS_AGENT_KEY: agentKey }) });
  const client = new Client({ name: 'e2e-recorder', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

/** Spawns the server and waits for it to exit (for start-up refusals): code, stdout, stderr. */
export function runServerUntilExit(configPath: string, env: Record<string, string | undefined>, timeoutMs = 15_000): Promise<CliResult> {
  return runCli(['--config', configPath], { env, timeoutMs });
}
