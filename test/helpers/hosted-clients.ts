/**
 * The hosted product's own clients as test peers, installed by
 * `scripts/peers/install-hosted-clients.sh` into the peers cache (never our dependencies: our
 * package has the same name as their MCP server): `@agentsecretstore/sdk` (loaded through
 * `createRequire`, as its ESM entry names a file it does not ship) and the `ass-mcp` stdio
 * server of `@agentsecretstore/mcp`, driven by a real MCP `Client`. Plus our built server as its
 * own `serve --http` process (dist/, what users run) for them to talk to.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ensureBuilt, runCli } from './cli.js';
import { spawnHttpServer, type SpawnedServer } from './remote-server.js';
import { peersCacheDir } from './peer-common.js';

export const HOSTED_CLIENTS_INSTALL = 'scripts/peers/install-hosted-clients.sh';

export interface HostedClients {
  dir: string;
  /** The `ass-mcp` entry (`bin/run.js`) of @agentsecretstore/mcp. */
  mcpEntry: string;
}

export function hostedClients(): HostedClients | { missing: string } {
  const dir = path.join(peersCacheDir(), 'hosted-clients');
  const mcpEntry = path.join(dir, 'node_modules/@agentsecretstore/mcp/bin/run.js');
  const sdk = path.join(dir, 'node_modules/@agentsecretstore/sdk/package.json');
  if (existsSync(mcpEntry) && existsSync(sdk)) return { dir, mcpEntry };
  return { missing: `The hosted product's clients are not installed in ${dir}. Run \`bash ${HOSTED_CLIENTS_INSTALL}\` (the README's test command does).` };
}

/** What the SDK exports (typed loosely: it is a peer, not a dependency). */
export interface HostedSdk {
  AgentVault: new (options: { agentKey: string; baseUrl?: string; autoToken?: boolean; defaultTtl?: string; timeout?: number; retries?: number }) => any;
  VaultError: new (...args: any[]) => Error & { code: string; status: number };
  AuthError: new (...args: any[]) => Error;
  ScopeError: new (...args: any[]) => Error;
  ApprovalRequiredError: new (...args: any[]) => Error & { approvalId: string };
  SecretNotFoundError: new (...args: any[]) => Error;
  RateLimitError: new (...args: any[]) => Error & { retryAfter?: number };
  ValidationError: new (...args: any[]) => Error;
  NetworkError: new (...args: any[]) => Error;
}

export function loadHostedSdk(clients: HostedClients): HostedSdk {
  return createRequire(path.join(clients.dir, 'package.json'))('@agentsecretstore/sdk') as HostedSdk;
}

/** Their `ass-mcp` over real stdio pipes, pointed at `apiUrl` with `ASS_API_URL`, and a real MCP client on it. */
export async function connectHostedMcp(clients: HostedClients, apiUrl: string, agentKey: string): Promise<{ client: Client; stderr(): string; close(): Promise<void> }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [clients.mcpEntry],
    cwd: clients.dir,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ASS_API_URL: apiUrl, ASS_AGENT_KEY: agentKey },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const client = new Client({ name: 'hosted-mcp-compat-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

export type BuiltServer = SpawnedServer;

/** `node dist/cli/main.js --config … serve --http --port 0` (the build users run), built first if needed. */
export async function spawnBuiltHttpServer(configPath: string, env: Record<string, string> = {}): Promise<BuiltServer> {
  await ensureBuilt();
  return spawnHttpServer(configPath, env);
}

/** A human approves with our CLI (its own process, the admin key in ASS_ADMIN_KEY). */
export async function approveWithCli(configPath: string, adminKey: string, approvalId: string, env: Record<string, string> = {}): Promise<void> {
  const result = await runCli(['--config', configPath, 'approvals', 'approve', approvalId], { env: { ...env, ASS_ADMIN_KEY: adminKey } });
  if (result.code !== 0) throw new Error(`approvals approve exited ${result.code}: ${result.stderr}`);
}
