import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { BoundedEventStore } from '../src/server/http/event-store.js';
import { figure, measure, ratio, table } from './stats.js';

/**
 * What resumability adds to each streamable HTTP tool call: the session's event store keeps
 * the priming event and the answer (and measures the answer's JSON). Beside it, in the same
 * run, one JSON.stringify of the same answer: the work the SDK already does to write it to the
 * stream. Timed in batches of 1,000 calls (one call is too short to time alone); µs per call.
 */
export async function runEventStoreBench(): Promise<string> {
  const record = { value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' }, version: 1 };
  const answer: JSONRPCMessage = { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: JSON.stringify(record, null, 2) }], structuredContent: record } };
  const store = new BoundedEventStore({ maxEvents: 256, maxBytes: 1024 * 1024 });
  const batch = 1000;
  let sink = 0;
  const stored = await measure(200, 20, async () => {
    for (let i = 0; i < batch; i++) {
      await store.storeEvent('stream', {} as JSONRPCMessage);
      await store.storeEvent('stream', answer);
    }
  });
  const serialized = await measure(200, 20, async () => {
    for (let i = 0; i < batch; i++) sink += JSON.stringify(answer).length;
  });
  if (sink === 0) throw new Error('nothing was serialized');
  const us = (msPerBatch: number): string => `${((msPerBatch * 1000) / batch).toFixed(2)} µs`;
  return [
    `### Resumability: event store per streamable HTTP tool call (get_secret-sized answer, batches of ${batch})`,
    '',
    table([
      ['', 'p50 per call', 'p99 per call', 'store ÷ it (p50)'],
      ['one JSON.stringify of the answer (the SDK does this to send it)', us(serialized.p50), us(serialized.p99), figure('event store per call p50 vs one JSON.stringify of the answer', stored.p50, serialized.p50, 'ms per batch')],
      ['event store: priming event + answer, bounded (256 events, 1 MiB)', us(stored.p50), us(stored.p99), '1.00×'],
    ]),
    '',
    'Compare with the whole call in the streamable HTTP table above (about a millisecond at p50).',
  ].join('\n');
}
