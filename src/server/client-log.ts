import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import { LoggingLevelSchema, SetLevelRequestSchema, type CallToolResult, type LoggingLevel, type ServerNotification, type ServerRequest } from '@modelcontextprotocol/sdk/types.js';
import { ERROR_CODES, type ErrorCode } from '../shared/errors.js';

/** The `logger` name on every message this server sends to an MCP client. */
export const CLIENT_LOGGER = 'agent-secret-store';
const ERROR_META = 'agent-secret-store/error';
const SEVERITY = new Map(LoggingLevelSchema.options.map((level, index) => [level, index]));

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/**
 * MCP logging for one session (the `logging` capability): the client picks a minimum level with
 * `logging/setLevel` (validated by the SDK's schema; `info` until it does), and each tool call
 * sends one `notifications/message` about its outcome, on the call's own stream:
 * - `debug`: the call succeeded;
 * - `notice`: a human must approve (with the approval id);
 * - `warning`: refused for a reason the caller can act on (the error code);
 * - `error`: the backend or the server failed (the error code).
 *
 * Security: a message is built only from the tool's registered name, a known error code, an
 * approval id of the shape we issue and fixed texts. Nothing from the tool's input or output (a
 * value, a key name, an error message) can reach it, whatever a handler returns.
 */
export class ClientLog {
  private level: LoggingLevel = 'info';

  constructor(server: McpServer) {
    // Replaces the SDK's own handler, which keeps levels by transport session id; this
    // McpServer serves exactly one session, so the level lives here.
    server.server.setRequestHandler(SetLevelRequestSchema, async (request) => {
      this.level = request.params.level;
      return {};
    });
  }

  /** The level the client asked for (or the default). */
  get minimum(): LoggingLevel {
    return this.level;
  }

  /** Sends the outcome of one tool call, if the session's level lets it through. Never throws. */
  async toolOutcome(extra: Extra, tool: string, result: CallToolResult): Promise<void> {
    const message = outcomeMessage(tool, result);
    if (SEVERITY.get(message.level)! < SEVERITY.get(this.level)!) return;
    await extra.sendNotification({ method: 'notifications/message', params: { level: message.level, logger: CLIENT_LOGGER, data: message.data } }).catch(() => undefined);
  }
}

function outcomeMessage(tool: string, result: CallToolResult): { level: LoggingLevel; data: Record<string, string> } {
  if (!result.isError) return { level: 'debug', data: { tool, outcome: 'ok', message: `${tool} succeeded.` } };
  const meta = (result._meta?.[ERROR_META] ?? {}) as { code?: unknown; approval_id?: unknown };
  const code: ErrorCode = typeof meta.code === 'string' && meta.code in ERROR_CODES ? (meta.code as ErrorCode) : 'INTERNAL';
  if (code === 'APPROVAL_REQUIRED') {
    // Security: only an id of the shape the approvals module issues is echoed.
    const approvalId = typeof meta.approval_id === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(meta.approval_id) ? meta.approval_id : undefined;
    return {
      level: 'notice',
      data: { tool, outcome: code, ...(approvalId ? { approval_id: approvalId } : {}), message: `${tool} needs a human approval. Poll get_approval_status with the approval id, then call again.` },
    };
  }
  const backend = ERROR_CODES[code].fault === 'backend';
  return { level: backend ? 'error' : 'warning', data: { tool, outcome: code, message: backend ? `${tool} failed on the server side (${code}).` : `${tool} was refused (${code}).` } };
}
