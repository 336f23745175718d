/**
 * The per-agent rate limit on stdio (`server.rate_limit`), as HTTP has one: every `tools/call`
 * takes one token from the agent's bucket before it is dispatched. A refused call is answered at
 * once with the same RATE_LIMITED tool error the service would give (naming when to retry) and
 * never reaches the pipeline, the state or the backend. Other methods (initialize, tools/list,
 * ping) touch nothing shared and are not counted.
 */
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { AssError } from '../shared/errors.js';
import type { RateLimiter } from './rate-limit.js';
import { toolError } from './tool-result.js';

/** Wraps a connected transport's `onmessage`; call after `server.connect(transport)`. */
export function limitToolCalls(transport: Transport, limiter: RateLimiter, agentId: string): void {
  const receive = transport.onmessage;
  transport.onmessage = (message: JSONRPCMessage, extra?: unknown) => {
    if ('method' in message && message.method === 'tools/call' && 'id' in message) {
      const verdict = limiter.take(agentId);
      if (!verdict.ok) {
        const refusal = new AssError('RATE_LIMITED', `Too many tool calls for this agent; retry in ${verdict.retryAfterS}s.`, { retry_after_s: verdict.retryAfterS });
        void transport.send({ jsonrpc: '2.0', id: message.id, result: toolError(refusal) }).catch(() => undefined);
        return;
      }
    }
    (receive as ((m: JSONRPCMessage, e?: unknown) => void) | undefined)?.(message, extra);
  };
}
