/**
 * A raw JSON-RPC peer over the built server's stdio pipes, for suites that must send what an
 * SDK Client never would (malformed lines, pipelined writes, a kill mid-stream) and still read
 * every answer. Messages are newline-delimited JSON, as the MCP stdio transport defines.
 * Every wait is bounded: a hang is reported as a failure, never waited out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { baseEnv, CLI, REPO_ROOT } from '../../helpers/cli.js';

export interface RawStdioServer {
  child: ChildProcess;
  /** Parsed messages the server wrote to stdout, in order. */
  messages: any[];
  /** stdout lines that were not JSON (must stay empty: stdout is the protocol channel). */
  junk: string[];
  stderr(): string;
  /** Writes raw bytes to the server's stdin. */
  write(data: string | Buffer): void;
  /** Sends one JSON-RPC message (one line). */
  send(message: unknown): void;
  /** Resolves with the answer to request `id`, or rejects after `timeoutMs`. */
  answer(id: string | number, timeoutMs?: number): Promise<any>;
  /** initialize + notifications/initialized. */
  initialize(): Promise<void>;
  exited(): boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export const INITIALIZE_PARAMS = { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'reliability', version: '1.0.0' } };

/** Spawns `node dist/cli/main.js --config <file>` as the agent whose key is `agentKey`. */
export function spawnRawStdio(configPath: string, agentKey: string, env: Record<string, string> = {}): RawStdioServer {
  const child = spawn(process.execPath, [CLI, '--config', configPath], { cwd: REPO_ROOT, env: baseEnv({ ASS_AGENT_KEY: agentKey, ...env }), stdio: ['pipe', 'pipe', 'pipe'] });
  const messages: any[] = [];
  const junk: string[] = [];
  const waiters = new Map<string, (m: any) => void>();
  let pending = Buffer.alloc(0);
  let err = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10)) {
      const line = pending.subarray(0, nl).toString('utf8').replace(/\r$/, '');
      pending = pending.subarray(nl + 1);
      if (!line) continue;
      let message: any;
      try {
        message = JSON.parse(line);
      } catch {
        junk.push(line);
        continue;
      }
      messages.push(message);
      if (message && message.id !== undefined && message.id !== null) waiters.get(JSON.stringify(message.id))?.(message);
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 4_000_000) err += d.toString('utf8');
  });
  // A write into a pipe the server closed (it was killed) is expected here, not a test error.
  child.stdin!.on('error', () => undefined);
  // 'close', not 'exit': every byte the server wrote is read before a kill is reported done.
  const closedPromise = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const server: RawStdioServer = {
    child,
    messages,
    junk,
    stderr: () => err,
    write(data) {
      if (child.exitCode === null && child.signalCode === null) child.stdin!.write(data);
    },
    send(message) {
      server.write(`${JSON.stringify(message)}\n`);
    },
    answer(id, timeoutMs = 30_000) {
      const key = JSON.stringify(id);
      const found = messages.find((m) => m && JSON.stringify(m.id) === key && ('result' in m || 'error' in m));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(key);
          reject(new Error(`no answer to request ${key} within ${timeoutMs} ms (server ${child.exitCode === null && child.signalCode === null ? 'still running' : `exited ${child.exitCode ?? child.signalCode}`}); stderr:\n${err.slice(-2000)}`));
        }, timeoutMs);
        waiters.set(key, (m) => {
          clearTimeout(timer);
          waiters.delete(key);
          resolve(m);
        });
      });
    },
    async initialize() {
      server.send({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: INITIALIZE_PARAMS });
      const answer = await server.answer('init', 60_000);
      if (!answer.result) throw new Error(`initialize failed: ${JSON.stringify(answer)}`);
      server.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    },
    exited: () => child.exitCode !== null || child.signalCode !== null,
    async kill(signal = 'SIGKILL') {
      if (!server.exited()) child.kill(signal);
      await closedPromise;
    },
  };
  return server;
}

/** A tools/call request message. */
export function toolCallMessage(id: string | number, name: string, args: unknown): unknown {
  return { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } };
}
