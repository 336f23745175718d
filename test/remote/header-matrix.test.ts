/**
 * Host, Origin, key and session variants against /mcp, /sse and /messages, each with its
 * exact status. A refused request is served nothing: no JSON-RPC result in its body.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIALIZE, MCP_HEADERS, raw, toolCall, toolsList } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';

let server: InProcessServer;
let port: number;
let sessionA: string;
let sseA: { sessionPath: string; close(): void };

async function initialize(key: string): Promise<string> {
  const res = await raw({ url: server.url, method: 'POST', path: '/mcp', headers: { ...MCP_HEADERS, 'x-agent-key': key }, body: INITIALIZE });
  expect(res.status).toBe(200);
  return res.headers['mcp-session-id'] as string;
}

/** Opens GET /sse and resolves with the announced message path once the endpoint event arrives. */
function openSse(key: string): Promise<{ sessionPath: string; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/sse', headers: { 'x-agent-key': key, accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`sse status ${res.statusCode}`));
      let buf = '';
      res.on('data', (c: Buffer) => {
        buf += c.toString('utf8');
        const m = /event: endpoint\ndata: (\S+)/.exec(buf);
        if (m) resolve({ sessionPath: m[1]!, close: () => req.destroy() });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  server = await startInProcess({
    agents: [
      { id: 'alpha', grants: ['secrets:*:alpha/**'] },
      { id: 'beta', grants: ['secrets:*:beta/**'] },
    ],
    http: { body_limit: 4096 },
  });
  port = server.handle.port;
  sessionA = await initialize(server.keys.alpha!);
  sseA = await openSse(server.keys.alpha!);
});
afterAll(async () => {
  sseA?.close();
  await server?.close();
});

interface Case {
  name: string;
  status: number;
  method?: string;
  path?: string | (() => string);
  headers?: () => Record<string, string>;
  body?: () => string;
  noHost?: boolean;
}

const A = () => server.keys.alpha!;
const B = () => server.keys.beta!;

const CASES: Case[] = [
  { name: 'initialize with x-agent-key, no Origin', status: 200, headers: () => ({ 'x-agent-key': A() }) },
  { name: 'no key', status: 401, headers: () => ({}) },
  { name: 'wrong key', status: 401, headers: () => ({ 'x-agent-key': 'ass_not-a-real-key' }) },
  { name: 'admin key as x-agent-key', status: 401, headers: () => ({ 'x-agent-key': server.adminKey }) },
  { name: 'agent key as Authorization: Bearer (not x-agent-key)', status: 401, headers: () => ({ authorization: `Bearer ${A()}` }) },
  { name: 'key in the query string only', status: 400, path: () => `/mcp?x-agent-key=${encodeURIComponent(A())}`, headers: () => ({}) },
  { name: 'Origin: null', status: 403, headers: () => ({ 'x-agent-key': A(), origin: 'null' }) },
  { name: 'foreign Origin', status: 403, headers: () => ({ 'x-agent-key': A(), origin: 'https://evil.example' }) },
  { name: 'loopback Origin on another port', status: 403, headers: () => ({ 'x-agent-key': A(), origin: `http://localhost:${port + 1}` }) },
  { name: 'same Origin (127.0.0.1)', status: 200, headers: () => ({ 'x-agent-key': A(), origin: `http://127.0.0.1:${port}` }) },
  { name: 'Host: localhost', status: 200, headers: () => ({ 'x-agent-key': A(), host: `localhost:${port}` }) },
  { name: 'Host: [::1]', status: 200, headers: () => ({ 'x-agent-key': A(), host: `[::1]:${port}` }) },
  { name: 'Host: localhost with Origin http://localhost (same origin)', status: 200, headers: () => ({ 'x-agent-key': A(), host: `localhost:${port}`, origin: `http://localhost:${port}` }) },
  { name: 'foreign Host (DNS rebinding)', status: 403, headers: () => ({ 'x-agent-key': A(), host: `evil.example:${port}` }) },
  { name: 'no Host header', status: 400, noHost: true, headers: () => ({ 'x-agent-key': A() }) },
  { name: "session reuse with another agent's key", status: 403, headers: () => ({ 'x-agent-key': B(), 'mcp-session-id': sessionA }), body: () => toolsList() },
  { name: 'session reuse without a key', status: 401, headers: () => ({ 'mcp-session-id': sessionA }), body: () => toolsList() },
  { name: 'session reuse by its own agent', status: 200, headers: () => ({ 'x-agent-key': A(), 'mcp-session-id': sessionA }), body: () => toolsList() },
  { name: 'unknown session id', status: 404, headers: () => ({ 'x-agent-key': A(), 'mcp-session-id': '00000000-0000-4000-8000-000000000000' }), body: () => toolsList() },
  { name: 'non-initialize request without a session', status: 400, headers: () => ({ 'x-agent-key': A() }), body: () => toolsList() },
  { name: 'body over the limit', status: 413, headers: () => ({ 'x-agent-key': A() }), body: () => toolCall('set_secret', { namespace: 'alpha/x', key: 'K', value: 'x'.repeat(5000) }) },
  { name: 'GET /mcp without a session', status: 400, method: 'GET', headers: () => ({ 'x-agent-key': A(), accept: 'text/event-stream' }), body: () => '' },
  { name: 'PUT /mcp', status: 405, method: 'PUT', headers: () => ({ 'x-agent-key': A() }) },
  { name: 'GET /sse without a key', status: 401, method: 'GET', path: '/sse', headers: () => ({}), body: () => '' },
  { name: 'GET /sse with a foreign Origin', status: 403, method: 'GET', path: '/sse', headers: () => ({ 'x-agent-key': A(), origin: 'https://evil.example' }), body: () => '' },
  { name: "SSE message with another agent's key", status: 403, path: () => sseA.sessionPath, headers: () => ({ 'x-agent-key': B() }), body: () => toolsList() },
  { name: 'SSE message without a key', status: 401, path: () => sseA.sessionPath, headers: () => ({}), body: () => toolsList() },
  { name: 'SSE message to an unknown session', status: 404, path: '/messages?sessionId=nope', headers: () => ({ 'x-agent-key': A() }), body: () => toolsList() },
  { name: 'SSE message by its own agent', status: 202, path: () => sseA.sessionPath, headers: () => ({ 'x-agent-key': A() }), body: () => toolsList(7) },
];

describe('header matrix', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status}`, async () => {
      const method = c.method ?? 'POST';
      const body = c.body ? c.body() : method === 'POST' ? INITIALIZE : undefined;
      const path = typeof c.path === 'function' ? c.path() : (c.path ?? '/mcp');
      const res = await raw({ url: server.url, method, path, headers: { ...MCP_HEADERS, ...(c.headers?.() ?? {}) }, ...(body ? { body } : {}), ...(c.noHost ? { noHost: true } : {}) });
      expect(res.status).toBe(c.status);
      if (c.status >= 400) {
        // Refused: nothing served, a JSON error body, and no key echoed back.
        expect(res.body).not.toContain('"result"');
        expect(res.body).not.toContain(A());
        expect(res.body).not.toContain(B());
        if (res.headers['content-type']?.toString().includes('json')) expect(JSON.parse(res.body)).toHaveProperty('error.code');
      }
    });
  }
});
