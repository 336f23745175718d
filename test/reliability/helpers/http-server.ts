/**
 * The BUILT server (`node dist/cli/main.js serve --http --port 0`) as its own process for the
 * reliability suites, optionally with the test-only GC probe preloaded, and an SDK Client over
 * streamable HTTP that authenticates with `x-agent-key`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { baseEnv, CLI, ensureBuilt, REPO_ROOT } from '../../helpers/cli.js';

export interface BuiltHttpServer {
  url: string;
  child: ChildProcess;
  pid: number;
  stderr(): string;
  stop(): Promise<void>;
}

/** Starts `serve --http` from dist/ and resolves once it prints its URL (bounded: 60 s). */
export async function startBuiltHttpServer(configPath: string, options: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<BuiltHttpServer> {
  await ensureBuilt();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, '--config', configPath, 'serve', '--http', '--port', '0'], {
    cwd: REPO_ROOT,
    env: baseEnv(options.env ?? {}),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stdout!.resume();
  child.stderr!.on('data', (d: Buffer) => {
    if (err.length < 2_000_000) err += d.toString('utf8');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s; stderr:\n${err}`)), 60_000);
    const onData = (): void => {
      const m = /listening on (\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        child.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}; stderr:\n${err}`));
    });
  });
  return {
    url,
    child,
    pid: child.pid!,
    stderr: () => err,
    stop: () => stopChild(child),
  };
}

/** SIGTERM, then SIGKILL after 10 s; resolves once the process has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export interface HttpAgentClient {
  client: Client;
  transport: StreamableHTTPClientTransport;
  /** Ends the MCP session on the server (DELETE) and closes the client. */
  close(): Promise<void>;
}

/**
 * An SDK Client connected to `${url}/mcp` as the agent whose key is `agentKey`. With
 * `closeConnections`, every request asks for `connection: close`, so no pooled keep-alive
 * socket of this test process outlives its request: the server's descriptor count can then
 * be compared before and after without waiting out a client's idle pool.
 */
export async function connectHttpAgent(url: string, agentKey: string, name = 'reliability', options: { closeConnections?: boolean } = {}): Promise<HttpAgentClient> {
  const closing: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('connection', 'close');
    return fetch(input, { ...init, headers });
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { 'x-agent-key': agentKey } },
    ...(options.closeConnections ? { fetch: closing } : {}),
  });
  const client = new Client({ name, version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    transport,
    async close() {
      await transport.terminateSession().catch(() => undefined);
      await client.close();
    },
  };
}

/** JSON-RPC messages in a /mcp response body: plain JSON (object or array) or SSE `data:` lines. */
export function messagesOf(response: { status: number; headers: Record<string, string | string[] | undefined>; body: string }): any[] {
  const type = String(response.headers['content-type'] ?? '');
  const texts = type.includes('text/event-stream')
    ? response.body.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter(Boolean)
    : response.body ? [response.body] : [];
  const out: any[] = [];
  for (const text of texts) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`response body is not JSON (${response.status} ${type}): ${text.slice(0, 200)}`);
    }
    out.push(...(Array.isArray(parsed) ? parsed : [parsed]));
  }
  return out;
}
