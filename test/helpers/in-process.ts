import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { pino } from 'pino';
import { createKeyFile } from '../../src/adapters/file/index.js';
import { createMcpServer } from '../../src/server/mcp-server.js';
import { generateAdminKey, generateAgentKey, hashKey } from '../../src/server/keys.js';
import { openRuntime, type Runtime } from '../../src/server/runtime.js';
import { loadSettings } from '../../src/server/settings.js';
import { authenticateAgent } from '../../src/server/authenticate.js';

export interface InProcess {
  client: Client;
  runtime: Runtime;
  dir: string;
  advance(ms: number): void;
  close(): Promise<void>;
}

/**
 * A real McpServer and a real SDK Client over the SDK's linked in-memory transports, on a
 * real file backend in a temp dir, with an injected clock. `agentYaml` replaces the agent's
 * grants/tools block; `extraYaml` is appended to the config.
 */
export async function startInProcess(options: { agentYaml?: string; extraYaml?: string } = {}): Promise<InProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-inproc-'));
  await createKeyFile(join(dir, 'store.key'));
  const agentKey = generateAgentKey();
  const config = `version: 1
backend: { type: file, path: ./secrets, key_file: ./store.key }
admins:
  - { id: admin, key_sha256: ${hashKey(generateAdminKey())} }
agents:
  - id: bot
    key_sha256: ${hashKey(agentKey)}
${options.agentYaml ?? '    grants: ["secrets:*:**"]'}
${options.extraYaml ?? ''}`;
  await writeFile(join(dir, 'config.yaml'), config, { mode: 0o600 });
  const settings = loadSettings(join(dir, 'config.yaml'), {});
  let now = Date.parse('2026-06-01T10:00:00Z');
  const runtime = await openRuntime(settings, pino({ level: 'silent' }), { clock: () => new Date(now) });
  const server = createMcpServer({ service: runtime.service, agent: authenticateAgent(settings, agentKey), name: 'test', readOnly: settings.config.server.read_only });
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(clientSide);
  return {
    client,
    runtime,
    dir,
    advance: (ms) => (now += ms),
    close: async () => {
      await client.close();
      await server.close();
      await runtime.close();
    },
  };
}
