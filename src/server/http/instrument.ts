import { randomUUID } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { Metrics } from './metrics.js';

export interface InstrumentOptions {
  metrics: Metrics;
  transport: 'sse' | 'streamable_http';
  /** Where a human approves: `server.approval_url`, else this server's `/approvals/{id}` page. */
  approvalPage: (approvalId: string) => string;
  /** The CLI command for `args`, with `--config` when needed (links.ts). */
  command?: (args: string) => string;
  logger: Logger;
}

type Id = string | number;
const ERROR_META = 'agent-secret-store/error';

/**
 * Watches one session's messages, after `server.connect(transport)`:
 * - times every `tools/call` and counts it by tool and outcome (the error code from `_meta`);
 * - when a call answers APPROVAL_REQUIRED and the client declared elicitation, first sends an
 *   elicitation pointing at where a human approves (URL mode when the client supports it,
 *   else form mode with the CLI command), then the answer. Nothing waits for the reply: the
 *   approval itself still happens out of band with the admin credential.
 * The tool handlers are untouched; this sits between the McpServer and its transport.
 */
export function instrumentSession(server: McpServer, transport: Transport, options: InstrumentOptions): void {
  const pending = new Map<Id, { tool: string; started: number }>();
  const onmessage = transport.onmessage;
  transport.onmessage = (message, extra) => {
    const m = message as { id?: Id; method?: string; params?: { name?: unknown } };
    if (m.method === 'tools/call' && m.id !== undefined) {
      pending.set(m.id, { tool: typeof m.params?.name === 'string' ? m.params.name.slice(0, 64) : 'unknown', started: performance.now() });
    }
    onmessage?.(message, extra);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage, sendOptions) => {
    const m = message as { id?: Id; result?: { isError?: boolean; _meta?: Record<string, unknown> }; error?: unknown };
    const call = m.id !== undefined && ('result' in m || 'error' in m) ? pending.get(m.id) : undefined;
    if (call && m.id !== undefined) {
      pending.delete(m.id);
      const meta = m.result?._meta?.[ERROR_META] as { code?: string; approval_id?: string } | undefined;
      const outcome = m.error ? 'PROTOCOL_ERROR' : m.result?.isError ? (meta?.code ?? 'ERROR') : 'ok';
      options.metrics.observeCall(options.transport, known(call.tool), outcome, (performance.now() - call.started) / 1000);
      if (meta?.code === 'APPROVAL_REQUIRED' && typeof meta.approval_id === 'string') elicitApproval(server, m.id, meta.approval_id, options);
    }
    return send(message, sendOptions);
  };
}

const TOOLS = new Set(['get_secret', 'set_secret', 'list_secrets', 'list_namespaces', 'delete_secret', 'rotate_secret', 'request_token', 'get_approval_status']);
/** Unknown tool names are folded into one label so a client cannot grow the series without bound. */
const known = (tool: string): string => (TOOLS.has(tool) ? tool : 'unknown');

function elicitApproval(server: McpServer, requestId: Id, approvalId: string, options: InstrumentOptions): void {
  const elicitation = server.server.getClientCapabilities()?.elicitation;
  if (!elicitation) return;
  const command = options.command?.(`approvals approve ${approvalId}`) ?? `agent-secret-store approvals approve ${approvalId}`;
  const message = `The agent asked for a secret that needs human approval (approval ID ${approvalId}). Approve it at the page that opens, or run \`${command}\` with the admin key.`;
  const url = options.approvalPage(approvalId);
  const supportsUrl = 'url' in elicitation && elicitation.url !== undefined;
  const supportsForm = 'form' in elicitation || !supportsUrl;
  const request = supportsUrl
    ? server.server.elicitInput({ mode: 'url', message, url, elicitationId: randomUUID() }, { relatedRequestId: requestId, timeout: 15 * 60_000 })
    : supportsForm
      ? server.server.elicitInput({ mode: 'form', message: `${message} (${url})`, requestedSchema: { type: 'object', properties: {} } }, { relatedRequestId: requestId, timeout: 15 * 60_000 })
      : undefined;
  // The answer (accept, decline, cancel, timeout) changes nothing: approval is out of band.
  request?.catch((error: unknown) => options.logger.debug({ approvalId, errorName: (error as Error)?.name }, 'approval elicitation not answered'));
}
