/**
 * Keep-alive on long-lived streams: with `http.keepalive` set, the legacy SSE stream and the
 * streamable HTTP GET stream carry `: keepalive` comments while nothing else happens, so an
 * agent waiting for a human is not dropped by an idle timeout. Read with fetch, a real HTTP
 * client that shows the raw stream (SDK clients drop comments, as SSE parsers must).
 * The interval comes from the config (1s here); the wait is a generous bound for the events.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveHttpOptions } from '../../src/server/http/options.js';
import { describeMissingPeer } from '../helpers/peer-common.js';
import { pythonMcp } from '../helpers/remote-peers.js';
import { openRawSession } from '../helpers/remote-http.js';
import { REPO_ROOT, startInProcess, type InProcessServer } from '../helpers/remote-server.js';
import { holdSecretLock } from '../helpers/secret-lock.js';

let server: InProcessServer;

beforeAll(async () => {
  server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }], http: { keepalive: '1s' } });
});
afterAll(async () => server?.close());

/** Reads `res` until `want` keep-alive comments arrived (or a generous bound passed); returns the text. */
async function readUntilKeepalives(res: Response, want: number, boundMs = 20_000): Promise<string> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  const bound = setTimeout(() => void reader.cancel(), boundMs);
  try {
    while ((text.match(/^: keepalive$/gm) ?? []).length < want) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(bound);
    await reader.cancel().catch(() => undefined);
  }
  return text;
}

describe('keep-alive comments on idle streams', () => {
  it('legacy SSE (/sse): the endpoint event, then `: keepalive` comments', async () => {
    const res = await fetch(`${server.url}/sse`, { headers: { 'x-agent-key': server.keys.a!, accept: 'text/event-stream' } });
    expect(res.status).toBe(200);
    const text = await readUntilKeepalives(res, 2);
    expect(text).toMatch(/^event: endpoint\ndata: \/messages\?sessionId=/);
    expect((text.match(/^: keepalive$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  /** initialize + initialized over raw fetch; returns the headers of the open session. */
  const openSession = (): Promise<Record<string, string>> => openRawSession(server.url, server.keys.a!, 'keepalive-test');

  it('streamable HTTP GET stream (/mcp): `: keepalive` comments', async () => {
    const session = await openSession();
    const stream = await fetch(`${server.url}/mcp`, { headers: { ...session, accept: 'text/event-stream' } });
    expect(stream.status).toBe(200);
    const text = await readUntilKeepalives(stream, 2);
    expect((text.match(/^: keepalive$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
  });

  it('streamable HTTP POST stream (/mcp) of a call that waits: priming event, then `: keepalive` comments', async () => {
    const session = await openSession();
    const release = await holdSecretLock(server.dir, 'a/wait', 'K');
    try {
      const call = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: session,
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'set_secret', arguments: { namespace: 'a/wait', key: 'K', value: 'v' } } }),
      });
      expect(call.headers.get('content-type')).toContain('text/event-stream');
      const text = await readUntilKeepalives(call, 2);
      expect(text).toMatch(/^id: \S+\nretry: 1000\ndata: \n\n/);
      expect((text.match(/^: keepalive$/gm) ?? []).length).toBeGreaterThanOrEqual(2);
    } finally {
      await release();
    }
  });
});

/**
 * The symptom, with the independent client: the Python SDK's SSE client gives up when
 * nothing arrives for `sse_read_timeout` (300 s by default; 3 s here), and the next call then
 * fails. With keep-alive comments every second, it survives 6 s of idling and still calls.
 */
const python = pythonMcp();
if ('missing' in python) {
  describeMissingPeer('keep-alive with the Python MCP SDK client', python.missing, 'bash scripts/peers/install-python-mcp.sh');
} else {
  describe('keep-alive with the Python MCP SDK client', () => {
    it('an SSE session idle for twice the read timeout still answers', async () => {
      const { stdout } = await promisify(execFile)(
        python.python,
        [path.join(REPO_ROOT, 'scripts/python/mcp_client.py'), '--transport', 'sse', '--url', server.url, '--namespace', 'a/idle', '--key', 'K', '--value', 'after-idle', '--idle', '6', '--sse-read-timeout', '3'],
        { env: { PATH: process.env.PATH ?? '', ASS_AGENT_KEY: server.keys.a! }, timeout: 60_000 },
      ).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
      const out = JSON.parse(stdout.trim().split('\n').pop() || '{}');
      expect(out.error).toBeUndefined();
      expect(out.get).toMatchObject({ value: 'after-idle', version: 1 });
    });
  });
}

describe('http.keepalive and http.resume in the config', () => {
  it('default to 15s keep-alive, 1s retry, a 256-event / 1 MiB replay buffer per session and a 250 ms priming hold', () => {
    const options = resolveHttpOptions(undefined);
    expect(options.keepaliveMs).toBe(15_000);
    expect(options.resume).toEqual({ retryMs: 1000, maxEvents: 256, maxBytes: 1024 * 1024, primingHoldMs: 250 });
  });

  it('take durations and bounds, and refuse nonsense with the field named', () => {
    const options = resolveHttpOptions({ keepalive: '30s', resume: { retry: '5s', max_events: 32, max_bytes: 65536 } } as never);
    expect(options.keepaliveMs).toBe(30_000);
    expect(options.resume).toEqual({ retryMs: 5000, maxEvents: 32, maxBytes: 65536, primingHoldMs: 250 });
    expect(resolveHttpOptions({ resume: { priming_hold_ms: 0 } } as never).resume.primingHoldMs).toBe(0);
    expect(() => resolveHttpOptions({ keepalive: '0s' } as never)).toThrow(/keepalive/);
    expect(() => resolveHttpOptions({ resume: { max_events: 0 } } as never)).toThrow(/max_events/);
    expect(() => resolveHttpOptions({ resume: { priming_hold_ms: -1 } } as never)).toThrow(/priming_hold_ms/);
    expect(() => resolveHttpOptions({ resume: { priming_hold_ms: 60_000 } } as never)).toThrow(/priming_hold_ms/);
  });
});
