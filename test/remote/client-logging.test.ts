/**
 * MCP logging: the server declares the `logging` capability, honours `logging/setLevel` per
 * session, and tells the client how each tool call ended — never with a value, a key or an
 * error message in it. Over streamable HTTP (in process, real sockets) and over stdio (the
 * built server, real pipes), with the SDK's Client.
 *
 * Notifications about a call travel on the call's own stream before its answer, and the SDK
 * dispatches them in order, so once a call has returned its messages have been handled.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema, type LoggingMessageNotification } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent, initHome, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

type Message = LoggingMessageNotification['params'];
const CANARY = 'canary-value-7f3a91';
const CANARY_KEY = 'CANARY_KEY_NAME_41';

function record(client: Client): Message[] {
  const messages: Message[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void messages.push(n.params));
  return messages;
}

/**
 * The checks every transport must pass, on a connected client whose agent may write `ns`;
 * `outsideOutcome` is what get_secret on 'not-granted/x' answers for that agent.
 */
function loggingContract(connect: () => Promise<Client>, ns: string, outsideOutcome: 'POLICY_DENIED' | 'SECRET_NOT_FOUND') {
  it('declares logging; without setLevel, a refusal is sent (warning) and a success is not (debug < info)', async () => {
    const client = await connect();
    expect(client.getServerCapabilities()?.logging).toEqual({});
    const messages = record(client);
    await client.callTool({ name: 'set_secret', arguments: { namespace: ns, key: CANARY_KEY, value: CANARY } });
    expect(messages).toEqual([]);
    await client.callTool({ name: 'get_secret', arguments: { namespace: ns, key: 'MISSING' } });
    expect(messages).toEqual([{ level: 'warning', logger: 'agent-secret-store', data: { tool: 'get_secret', outcome: 'SECRET_NOT_FOUND', message: 'get_secret was refused (SECRET_NOT_FOUND).' } }]);
    await client.close();
  });

  it('setLevel debug: every call is reported; no value, key name or error text in any message', async () => {
    const client = await connect();
    const messages = record(client);
    expect(await client.setLoggingLevel('debug')).toEqual({});
    const got = (await client.callTool({ name: 'get_secret', arguments: { namespace: ns, key: CANARY_KEY } })) as { structuredContent?: { value?: string } };
    expect(got.structuredContent?.value).toBe(CANARY);
    await client.callTool({ name: 'list_secrets', arguments: { namespace: ns } });
    await client.callTool({ name: 'get_secret', arguments: { namespace: 'not-granted/x', key: CANARY_KEY } });
    expect(messages.map((m) => [m.level, (m.data as { tool: string }).tool, (m.data as { outcome: string }).outcome])).toEqual([
      ['debug', 'get_secret', 'ok'],
      ['debug', 'list_secrets', 'ok'],
      ['warning', 'get_secret', outsideOutcome],
    ]);
    const text = JSON.stringify(messages);
    expect(text).not.toContain(CANARY);
    expect(text).not.toContain(CANARY_KEY);
    expect(text).not.toContain('not-granted');
    await client.close();
  });

  it('setLevel error: refusals and successes are both below it, so nothing is sent', async () => {
    const client = await connect();
    const messages = record(client);
    await client.setLoggingLevel('error');
    await client.callTool({ name: 'get_secret', arguments: { namespace: ns, key: CANARY_KEY } });
    await client.callTool({ name: 'get_secret', arguments: { namespace: ns, key: 'MISSING' } });
    expect(messages).toEqual([]);
    await client.close();
  });

  it('an unknown level is refused with invalid params, and the level in force stays', async () => {
    const client = await connect();
    const messages = record(client);
    await client.setLoggingLevel('debug');
    await expect(client.request({ method: 'logging/setLevel', params: { level: 'verbose' as never } }, LoggingMessageNotificationSchema.shape.params.partial())).rejects.toThrow(/-32602|Invalid/i);
    await client.callTool({ name: 'list_namespaces', arguments: {} });
    expect(messages.map((m) => m.level)).toEqual(['debug']);
    await client.close();
  });
}

describe('logging over streamable HTTP', () => {
  let server: InProcessServer;
  beforeAll(async () => {
    server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:logs/**'] }] });
    await server.runtime.backend.put({ namespace: 'logs/crit', key: 'STRIPE', value: CANARY, secret_type: 'api_key', access_tier: 'critical', metadata: {} });
  });
  afterAll(async () => server?.close());
  const connect = async () => {
    const client = new Client({ name: 'logging-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers: { 'x-agent-key': server.keys.a! } } }));
    return client;
  };

  loggingContract(connect, 'logs/app', 'POLICY_DENIED');

  it('a call that needs approval is reported as notice, with the approval id and nothing else', async () => {
    const client = await connect();
    const messages = record(client);
    const result = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'logs/crit', key: 'STRIPE' } })) as { _meta?: Record<string, { approval_id: string }> };
    const approvalId = result._meta?.['agent-secret-store/error']?.approval_id;
    expect(approvalId).toMatch(/^[0-9a-f-]{36}$/);
    expect(messages).toEqual([
      { level: 'notice', logger: 'agent-secret-store', data: { tool: 'get_secret', outcome: 'APPROVAL_REQUIRED', approval_id: approvalId, message: 'get_secret needs a human approval. Poll get_approval_status with the approval id, then call again.' } },
    ]);
    await client.close();
  });

  it('the level is per session: one session at debug does not change another', async () => {
    const verbose = await connect();
    const quiet = await connect();
    const verboseMessages = record(verbose);
    const quietMessages = record(quiet);
    await verbose.setLoggingLevel('debug');
    await quiet.setLoggingLevel('warning');
    await verbose.callTool({ name: 'list_namespaces', arguments: {} });
    await quiet.callTool({ name: 'list_namespaces', arguments: {} });
    expect(verboseMessages.map((m) => m.level)).toEqual(['debug']);
    expect(quietMessages).toEqual([]);
    await verbose.close();
    await quiet.close();
  });
});

describe('logging over stdio', () => {
  let home: Home;
  const connections: AgentConnection[] = [];
  beforeAll(async () => {
    home = await initHome();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(connections.map((c) => c.close().catch(() => undefined)));
    removeHome(home);
  });
  loggingContract(async () => {
    const connection = await connectAgent(home.configPath, home.agentKey);
    connections.push(connection);
    return connection.client;
  }, 'stdio/app', 'SECRET_NOT_FOUND'); // init's agent is granted secrets:*:**
});
