import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AssError, isAssError } from '../shared/errors.js';

/** Success: the seed's JSON as `structuredContent`, and the same JSON as text for older clients. */
export function toolSuccess(payload: object): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(payload, null, 2) }], structuredContent: payload as Record<string, unknown> };
}

/**
 * The one place an error becomes an MCP result. The text reads as the seed shows
 * ("Error: Human approval required. Approval ID: …"); machine-readable fields go in `_meta`.
 * Anything that is not an AssError has already been turned into INTERNAL by the service;
 * this guards the boundary anyway.
 */
export function toolError(error: unknown): CallToolResult {
  const failure = isAssError(error) ? error : new AssError('INTERNAL', 'Internal error. The operator can find it in the server log.');
  return {
    isError: true,
    content: [{ type: 'text', text: `Error: ${failure.message}` }],
    _meta: { 'agent-secret-store/error': { code: failure.code, retryable: failure.retryable, ...failure.details } },
  };
}
