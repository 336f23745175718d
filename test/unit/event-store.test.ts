/** The per-session replay buffer behind streamable HTTP resumability: ordered, per stream, bounded. */
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import { BoundedEventStore } from '../../src/server/http/event-store.js';

const note = (n: number): JSONRPCMessage => ({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `n${n}` } });
const answer = (id: number, text: string): JSONRPCMessage => ({ jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }] } });

async function replay(store: BoundedEventStore, after: string): Promise<{ stream: string; events: Array<[string, JSONRPCMessage]> }> {
  const events: Array<[string, JSONRPCMessage]> = [];
  const stream = await store.replayEventsAfter(after, { send: async (id, message) => void events.push([id, message]) });
  return { stream, events };
}

describe('BoundedEventStore', () => {
  it('replays, in order, only what followed the given event on the same stream', async () => {
    const store = new BoundedEventStore({ maxEvents: 100, maxBytes: 1 << 20 });
    const primeA = await store.storeEvent('A', {} as JSONRPCMessage);
    await store.storeEvent('B', note(0));
    const a1 = await store.storeEvent('A', note(1));
    const a2 = await store.storeEvent('A', answer(7, 'done'));
    expect(await store.getStreamIdForEventId(a1)).toBe('A');
    const { stream, events } = await replay(store, primeA);
    expect(stream).toBe('A');
    expect(events).toEqual([[a1, note(1)], [a2, answer(7, 'done')]]);
    expect((await replay(store, a2)).events).toEqual([]);
  });

  it('an unknown event id is refused, and has no stream', async () => {
    const store = new BoundedEventStore({ maxEvents: 100, maxBytes: 1 << 20 });
    await store.storeEvent('A', note(1));
    expect(await store.getStreamIdForEventId('42')).toBeUndefined();
    await expect(replay(store, '42')).rejects.toThrow(/Unknown or expired/);
  });

  it('keeps at most maxEvents, dropping the oldest', async () => {
    const store = new BoundedEventStore({ maxEvents: 16, maxBytes: 1 << 20 });
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await store.storeEvent('A', note(i)));
    expect(store.usage.events).toBe(16);
    expect(await store.getStreamIdForEventId(ids[23]!)).toBeUndefined();
    expect((await replay(store, ids[24]!)).events.map(([, m]) => (m as unknown as { params: { data: string } }).params.data)).toEqual(
      Array.from({ length: 15 }, (_, i) => `n${25 + i}`),
    );
  });

  it('keeps at most maxBytes, dropping the oldest', async () => {
    const store = new BoundedEventStore({ maxEvents: 1000, maxBytes: 64 * 1024 });
    for (let i = 0; i < 20; i++) await store.storeEvent('A', answer(i, 'x'.repeat(10_000)));
    expect(store.usage.bytes).toBeLessThanOrEqual(64 * 1024);
    expect(store.usage.events).toBe(6);
  });

  it('an answer larger than the whole budget is kept as a small error with the same id (a resuming client is not left waiting)', async () => {
    const store = new BoundedEventStore({ maxEvents: 1000, maxBytes: 64 * 1024 });
    const prime = await store.storeEvent('A', {} as JSONRPCMessage);
    await store.storeEvent('A', answer(9, 'secret-ish '.repeat(10_000)));
    const { events } = await replay(store, prime);
    expect(events).toHaveLength(1);
    expect(events[0]![1]).toEqual({ jsonrpc: '2.0', id: 9, error: { code: -32603, message: expect.stringMatching(/too large to keep for replay/) } });
    expect(JSON.stringify(events)).not.toContain('secret-ish');
    expect(store.usage.bytes).toBeLessThan(1024);
  });

  it('clear() drops everything (the session ended)', async () => {
    const store = new BoundedEventStore({ maxEvents: 100, maxBytes: 1 << 20 });
    const id = await store.storeEvent('A', answer(1, 'value'));
    store.clear();
    expect(store.usage).toEqual({ events: 0, bytes: 0 });
    expect(await store.getStreamIdForEventId(id)).toBeUndefined();
  });
});
