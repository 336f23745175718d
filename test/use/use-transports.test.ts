/**
 * Parity: run_with_secrets and http_request behave the same over SSE and streamable HTTP (the
 * SDK Client over real sockets) as over stdio, and REST's POST /v1/use/http keeps the same rules.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';
import { MASK_MARKER } from '../../src/use/mask.js';
import { encodings, startReceiver, writePrinter, type Receiver } from './helpers.js';

const VALUE = `tok_${randomBytes(12).toString('base64url')}`;
let server: InProcessServer;
let allowed: Receiver;
let other: Receiver;

type ToolResult = { isError?: boolean; structuredContent?: Record<string, any>; _meta?: Record<string, any> };

function expectNoValue(text: string): void {
  for (const e of encodings(VALUE)) expect(text.includes(e), `an encoding leaked: ${text.slice(0, 200)}`).toBe(false);
}

beforeAll(async () => {
  [allowed, other] = await Promise.all([startReceiver(), startReceiver()]);
  server = await startInProcess({
    agents: [{ id: 'user', grants: ['secrets:use:prod/**'] }],
    extra: {
      use: {
        commands: { allow: [{ executable: process.execPath, args: ['.*printer\\.mjs', 'print|trap', '[0-9]'], env: { S: 'prod/**' } }], output_cap: 1024 },
        http: { rules: [{ namespaces: 'prod/**', allowed_hosts: [`127.0.0.1:${allowed.port}`], schemes: ['http'] }] },
      },
    },
  });
  await server.runtime.backend.put({ namespace: 'prod/api', key: 'TOKEN', value: VALUE, secret_type: 'api_key', access_tier: 'standard', metadata: {} });
});

afterAll(async () => {
  await server?.close();
  await Promise.all([allowed?.close(), other?.close()]);
});

function transportFor(kind: 'sse' | 'streamable', key: string) {
  const headers = { 'x-agent-key': key };
  return kind === 'sse'
    ? new SSEClientTransport(new URL(`${server.url}/sse`), { requestInit: { headers }, eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }) } })
    : new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), { requestInit: { headers } });
}

for (const kind of ['sse', 'streamable'] as const) {
  describe(`use without reveal over ${kind}`, () => {
    it('http_request delivers to the allowed host only, masked; run_with_secrets masks; get_secret is refused', async () => {
      const client = new Client({ name: 'use-test', version: '1.0.0' });
      await client.connect(transportFor(kind, server.keys.user!));
      try {
        expect((await client.listTools()).tools.map((t) => t.name)).toEqual(expect.arrayContaining(['run_with_secrets', 'http_request']));
        const sent = (await client.callTool({ name: 'http_request', arguments: { method: 'GET', url: `${allowed.origin}/echo`, headers: { Authorization: 'Bearer {{ass://prod/api/TOKEN}}' } } })) as ToolResult;
        expect(sent.isError).toBeFalsy();
        expect(allowed.requests.at(-1)!.headers.authorization).toBe(`Bearer ${VALUE}`);
        expect(sent.structuredContent!.body).toBe(`auth=Bearer ${MASK_MARKER}\nbody=\n`);
        const refused = (await client.callTool({ name: 'http_request', arguments: { method: 'GET', url: `${other.origin}/echo`, headers: { Authorization: '{{ass://prod/api/TOKEN}}' } } })) as ToolResult;
        expect(refused._meta?.['agent-secret-store/error'].code).toBe('POLICY_DENIED');
        expect(other.connections).toBe(0);
        const printer = await writePrinter(server.dir);
        const ran = (await client.callTool({ name: 'run_with_secrets', arguments: { command: [process.execPath, printer, 'print', '3'], env: { S: 'ass://prod/api/TOKEN' } } })) as ToolResult;
        // The printer writes several KiB: stdout is cut at use.commands.output_cap.
        expect(ran.structuredContent).toMatchObject({ exit_code: 3, truncated: true, timed_out: false });
        expect(ran.structuredContent!.stdout).toContain(MASK_MARKER);
        expect(Buffer.byteLength(ran.structuredContent!.stdout)).toBeLessThanOrEqual(1024);
        // A command that never ends is killed at the timeout the agent asked for.
        const endless = (await client.callTool({ name: 'run_with_secrets', arguments: { command: [process.execPath, printer, 'trap'], timeout: 1 } })) as ToolResult;
        expect(endless.structuredContent).toMatchObject({ exit_code: null, signal: 'SIGKILL', timed_out: true, stdout: 'ready\n' });
        const got = (await client.callTool({ name: 'get_secret', arguments: { namespace: 'prod/api', key: 'TOKEN' } })) as ToolResult;
        expect(got._meta?.['agent-secret-store/error'].code).toBe('POLICY_DENIED');
        expectNoValue(JSON.stringify([sent, refused, ran, got]));
      } finally {
        await client.close();
      }
    });
  });
}

describe('REST POST /v1/use/http', () => {
  it('with a secrets:use token: delivers to the allowed host, masked; refuses another host before sending; the token cannot read', async () => {
    const issued = await fetch(`${server.url}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${server.keys.user}`, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['secrets:use:prod/**'] }) });
    expect(issued.status).toBe(200);
    const { token } = (await issued.json()) as { token: string };
    const post = (payload: unknown) => fetch(`${server.url}/v1/use/http`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    const ok = await post({ method: 'POST', url: `${allowed.origin}/echo`, headers: { 'x-api-key': '{{ass://prod/api/TOKEN}}' }, body: '{"k":"{{ass://prod/api/TOKEN}}"}' });
    const okText = await ok.text();
    expect(ok.status, okText).toBe(200);
    expect(allowed.requests.at(-1)!.body).toBe(`{"k":"${VALUE}"}`);
    expect(JSON.parse(okText)).toMatchObject({ status: 200, body: `auth=\nbody={"k":"${MASK_MARKER}"}\n`, truncated: false });
    const refused = await post({ method: 'GET', url: `${other.origin}/echo`, headers: { 'x-api-key': '{{ass://prod/api/TOKEN}}' } });
    expect(refused.status).toBe(403);
    expect(other.connections).toBe(0);
    // With only use scopes, the secret's path reads as a (namespace) listing, never as its value.
    const read = await fetch(`${server.url}/v1/secrets/prod/api/TOKEN`, { headers: { authorization: `Bearer ${token}` } });
    const readText = await read.text();
    expect(JSON.parse(readText).value).toBeUndefined();
    expectNoValue(okText + (await refused.text()) + readText);
    expectNoValue(await readFile(path.join(server.dir, 'audit.log'), 'utf8'));
  });
});
