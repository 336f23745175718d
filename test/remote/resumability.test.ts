/**
 * Streamable HTTP resumability (protocol 2025-11-25, SEP-1699): a client whose connection
 * drops while its tool call waits reconnects with Last-Event-ID and still gets its answer.
 *
 * The call really waits: `set_secret` needs the secret file's cross-process lock, which this
 * test holds (as a concurrent writer would) until it lets go. The connection really drops: a
 * loopback relay between the SDK's own client and the server destroys every socket. The
 * client is the SDK's StreamableHTTPClientTransport, which resumes by itself from the
 * priming event's id after the server's `retry`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';
import { holdSecretLock } from '../helpers/secret-lock.js';

let server: InProcessServer;
let proxy: HeaderProxy;
const opened: Client[] = [];

beforeAll(async () => {
  server = await startInProcess({
    agents: [
      { id: 'alpha', grants: ['secrets:*:team/**'] },
      { id: 'beta', grants: ['secrets:*:other/**'] },
    ],
    http: { resume: { retry: '1s' } },
  });
  proxy = await startHeaderProxy(server.url, {});
});
afterEach(async () => {
  proxy.resume();
  await Promise.all(opened.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
});

/** A generous bounded wait for an event (not a timing assertion). */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function connect(key: string): Promise<Client> {
  const client = new Client({ name: 'resume-test', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(`${proxy.url}/mcp`), {
    requestInit: { headers: { 'x-agent-key': key } },
    reconnectionOptions: { initialReconnectionDelay: 200, maxReconnectionDelay: 2000, reconnectionDelayGrowFactor: 1.5, maxRetries: 30 },
  });
  await client.connect(transport);
  opened.push(client);
  return client;
}

/** Starts set_secret while the lock is held; resolves once the client holds a resumption token. */
async function startWaitingCall(client: Client, namespace: string, value: string) {
  const tokens: string[] = [];
  const result = client.callTool({ name: 'set_secret', arguments: { namespace, key: 'API_KEY', value } }, CallToolResultSchema, {
    onresumptiontoken: (token) => tokens.push(token),
    timeout: 60_000,
  });
  // A test that fails before awaiting it must not leave an unhandled rejection behind.
  result.catch(() => undefined);
  await until('the priming event (a resumption token)', () => tokens.length > 0);
  return { result, tokens };
}

describe('a tool call survives a dropped connection', () => {
  it('the answer produced after the client reconnects arrives on the resumed stream', async () => {
    const release = await holdSecretLock(server.dir, 'team/one', 'API_KEY');
    const client = await connect(server.keys.alpha!);
    const { result, tokens } = await startWaitingCall(client, 'team/one', 'v-after');
    const primed = tokens[0]!;
    const before = proxy.seen.length;

    proxy.dropAll();
    await until('the client to resume with Last-Event-ID', () => proxy.seen.slice(before).some((r) => r.method === 'GET' && r.lastEventId === primed));
    await release();

    const answer = (await result) as { isError?: boolean; structuredContent?: Record<string, unknown> };
    expect(answer.isError).toBeFalsy();
    expect(answer.structuredContent).toMatchObject({ namespace: 'team/one', key: 'API_KEY', version: 1 });
    expect((await server.runtime.backend.get('team/one', 'API_KEY'))?.value).toBe('v-after');
  });

  it('the answer produced while the client is away is replayed when it comes back', async () => {
    const release = await holdSecretLock(server.dir, 'team/two', 'API_KEY');
    const client = await connect(server.keys.alpha!);
    const { result, tokens } = await startWaitingCall(client, 'team/two', 'v-away');
    const primed = tokens[0]!;
    const before = proxy.seen.length;

    proxy.pause();
    proxy.dropAll();
    await release();
    // The write is done (and its answer stored for replay) before the network comes back.
    await until('the write to land', async () => (await server.runtime.backend.get('team/two', 'API_KEY')) !== null);
    expect((await server.runtime.backend.get('team/two', 'API_KEY'))?.value).toBe('v-away');
    proxy.resume();

    const answer = (await result) as { isError?: boolean; structuredContent?: Record<string, unknown> };
    expect(answer.structuredContent).toMatchObject({ namespace: 'team/two', version: 1 });
    // It came back with the priming event's id, and the answer came as the replayed event after it.
    expect(proxy.seen.slice(before)).toContainEqual(expect.objectContaining({ method: 'GET', lastEventId: primed }));
    expect(tokens.length).toBe(2);
    expect(Number(tokens[1])).toBeGreaterThan(Number(primed));
  });
});

describe('resuming is bound to the session and its agent', () => {
  it("another agent cannot resume a session's stream (403); an unknown event id is refused (400)", async () => {
    const client = await connect(server.keys.alpha!);
    const { result, tokens } = await startWaitingCall(client, 'team/three', 'v-bound');
    await result;
    const sessionId = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const get = (key: string, lastEventId: string) =>
      fetch(`${server.url}/mcp`, { headers: { 'x-agent-key': key, 'mcp-session-id': sessionId, 'last-event-id': lastEventId, accept: 'text/event-stream', 'mcp-protocol-version': '2025-11-25' } });
    const foreign = await get(server.keys.beta!, tokens[0]!);
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).not.toContain('v-bound');
    const unknown = await get(server.keys.alpha!, '999999');
    expect(unknown.status).toBe(400);
    await unknown.body?.cancel();
  });

  it('the replay buffer ends with the session (404 after DELETE)', async () => {
    const client = await connect(server.keys.alpha!);
    const { result, tokens } = await startWaitingCall(client, 'team/four', 'v-gone');
    await result;
    const transport = client.transport as StreamableHTTPClientTransport;
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    const res = await fetch(`${server.url}/mcp`, { headers: { 'x-agent-key': server.keys.alpha!, 'mcp-session-id': sessionId, 'last-event-id': tokens[0]!, accept: 'text/event-stream' } });
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('v-gone');
  });
});
