import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** How much one session may keep for replay. */
export interface EventStoreLimits {
  /** Most events kept (the oldest go first). */
  maxEvents: number;
  /** Most bytes kept, counted as the messages' JSON (UTF-8). */
  maxBytes: number;
}

interface StoredEvent {
  streamId: string;
  message: JSONRPCMessage;
  bytes: number;
}

/**
 * The replay buffer of ONE streamable HTTP session, for resumability (protocol 2025-11-25,
 * SEP-1699): the SDK transport stores every message it sends on an SSE stream here, including
 * an empty priming event, and a client that lost its connection sends `GET` with
 * `Last-Event-ID` to receive what followed on that stream.
 *
 * Bounded in count and bytes; the oldest events are evicted first, so a client that comes back
 * too late is told its event id is unknown (400) instead of the server growing without bound.
 * An answer too large for the whole budget is replaced by a small JSON-RPC error with the same
 * id, so a resuming client gets an answer (call again) instead of waiting forever. The owner
 * calls `clear()` when the session ends.
 *
 * Security: answers held here may carry secret values (a get_secret result). They stay in this
 * process's memory only, for this session only (the session answers only the agent that opened
 * it), are never logged or written anywhere, and are dropped on eviction and on `clear()`.
 */
export class BoundedEventStore implements EventStore {
  private readonly events = new Map<string, StoredEvent>();
  private bytes = 0;
  private sequence = 0;

  constructor(private readonly limits: EventStoreLimits) {}

  /** Events and bytes currently kept (for tests and metrics). */
  get usage(): { events: number; bytes: number } {
    return { events: this.events.size, bytes: this.bytes };
  }

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const eventId = String(++this.sequence);
    let kept = message;
    let bytes = Buffer.byteLength(JSON.stringify(message), 'utf8');
    if (bytes > this.limits.maxBytes) {
      kept = tooLargeToKeep(message);
      bytes = Buffer.byteLength(JSON.stringify(kept), 'utf8');
    }
    this.events.set(eventId, { streamId, message: kept, bytes });
    this.bytes += bytes;
    this.evict();
    return eventId;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const last = this.events.get(lastEventId);
    if (!last) throw new Error('Unknown or expired event id');
    // Map iteration follows insertion order, which is the order the events were sent.
    const after = [...this.events.entries()].filter(([id, event]) => event.streamId === last.streamId && Number(id) > Number(lastEventId));
    for (const [id, event] of after) await send(id, event.message);
    return last.streamId;
  }

  /** Drops everything (the session ended). */
  clear(): void {
    this.events.clear();
    this.bytes = 0;
  }

  private evict(): void {
    for (const [id, event] of this.events) {
      if (this.events.size <= this.limits.maxEvents && this.bytes <= this.limits.maxBytes) return;
      this.events.delete(id);
      this.bytes -= event.bytes;
    }
  }
}

/** What is kept instead of an answer larger than the whole replay budget. */
function tooLargeToKeep(message: JSONRPCMessage): JSONRPCMessage {
  const id = 'id' in message && message.id !== undefined && ('result' in message || 'error' in message) ? message.id : undefined;
  if (id === undefined) return { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'warning', logger: 'agent-secret-store', data: 'A message was too large to keep for replay.' } };
  return { jsonrpc: '2.0', id, error: { code: -32603, message: 'The answer was too large to keep for replay after the connection dropped. Call again.' } };
}
