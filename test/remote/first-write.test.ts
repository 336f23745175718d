/**
 * Streamable HTTP POST streams (src/server/http/mcp-streamable.ts `holdFirstWrites`,
 * `http.resume.priming_hold_ms`): a tool call answered within the hold leaves the server in
 * ONE socket write (headers, the resumability priming event, the answer and the end of the
 * chunked stream), where the SDK alone writes the priming event at once and the answer later;
 * a call that waits longer gets its priming event while it waits, so it can still resume.
 * Real servers in this process, raw fetch client; the server's own socket writes are counted
 * (by port) on net.Socket. The calls really wait: the test holds the secret's file lock.
 * Breaking it: without `res.cork()` the first test sees 3 writes; with a hold that never
 * ends, the second never sees the priming event before the lock is released.
 */
import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRawSession } from '../helpers/remote-http.js';
import { startInProcess, type InProcessServer } from '../helpers/remote-server.js';
import { holdSecretLock } from '../helpers/secret-lock.js';

let server: InProcessServer;
/** Holds first writes for 5 s, far longer than the test's own wait of 0.5 s. */
let holding: InProcessServer;

beforeAll(async () => {
  server = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }] });
  holding = await startInProcess({ agents: [{ id: 'a', grants: ['secrets:*:a/**'] }], http: { resume: { priming_hold_ms: 5_000 } } });
});
afterAll(async () => {
  await server?.close();
  await holding?.close();
});

const openSession = (server: InProcessServer): Promise<Record<string, string>> => openRawSession(server.url, server.keys.a!, 'first-write-test');

/** Counts write calls made by the server's side of its connections while `run` runs. */
async function serverWrites(server: InProcessServer, run: () => Promise<void>): Promise<number> {
  const port = server.handle.port;
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...args: unknown[]) => unknown>;
  const original = { _write: proto._write, _writev: proto._writev };
  let writes = 0;
  for (const name of ['_write', '_writev'] as const) {
    proto[name] = function (this: Socket, ...args: unknown[]) {
      if (this.localPort === port && this.remotePort !== port) writes++;
      return original[name].apply(this, args);
    };
  }
  try {
    await run();
  } finally {
    Object.assign(proto, original);
  }
  return writes;
}

describe('streamable HTTP POST stream writes', () => {
  it('an answer ready within the hold leaves in one write: priming event first, then the answer, then the end', async () => {
    const session = await openSession(holding);
    const release = await holdSecretLock(holding.dir, 'a/quick', 'K');
    let released = false;
    let text = '';
    try {
      const writes = await serverWrites(holding, async () => {
        const res = fetch(`${holding.url}/mcp`, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'set_secret', arguments: { namespace: 'a/quick', key: 'K', value: 'v' } } }) });
        // The call waits for the lock meanwhile: without the hold, its priming event would be written now.
        await new Promise((r) => setTimeout(r, 500));
        await release();
        released = true;
        text = await (await res).text();
      });
      expect(text).toMatch(/^id: \S+\nretry: 1000\ndata: \n\n/);
      const answer = JSON.parse(/\nid: \S+\ndata: (\{.*\})\n/.exec(text)?.[1] ?? '{}') as { id?: number; result?: unknown };
      expect(answer).toMatchObject({ id: 3, result: { structuredContent: { key: 'K' } } });
      expect(writes).toBe(1);
    } finally {
      if (!released) await release();
    }
  });

  it('a call that waits longer than the hold gets its priming event while it waits', async () => {
    const session = await openSession(server);
    const release = await holdSecretLock(server.dir, 'a/wait', 'K');
    let released = false;
    try {
      const res = await fetch(`${server.url}/mcp`, {
        method: 'POST',
        headers: session,
        body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'set_secret', arguments: { namespace: 'a/wait', key: 'K', value: 'v' } } }),
      });
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      // Bounded: the default hold (250 ms) plus a generous margin for a loaded machine (not a timing assertion).
      const bound = setTimeout(() => void reader.cancel(), 20_000);
      while (!/\ndata: \n\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      clearTimeout(bound);
      expect(text).toMatch(/^id: \S+\nretry: 1000\ndata: \n\n$/);
      await release();
      released = true;
      while (!/"result"[^\n]*\n/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const answer = JSON.parse(/\nid: \S+\ndata: (\{.*\})\n/.exec(text)?.[1] ?? '{}') as { id?: number; result?: unknown };
      expect(answer).toMatchObject({ id: 2, result: { structuredContent: { key: 'K' } } });
    } finally {
      if (!released) await release();
    }
  });
});
