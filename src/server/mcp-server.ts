import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ClientLog } from './client-log.js';
import { registerTools } from './tools/registry.js';
import type { SecretService } from './secret-service.js';
import type { AgentSettings } from './settings.js';

export const SERVER_VERSION = '0.1.0';

const INSTRUCTIONS =
  'agent-secret-store gives this agent governed access to secrets. Use get_secret to read a value. ' +
  'Give get_secret and request_token a short reason: the human who approves sees it. ' +
  'If it answers that human approval is required, tell the user the approval ID (and the link, when one is given), poll get_approval_status, ' +
  'and retry get_secret once the status is approved. delete_secret and rotate_secret never act: a human does them. ' +
  'Never repeat a secret value back to the user unless asked.';

/**
 * A factory, not module state: one McpServer per session, bound to the agent that session
 * authenticated as. Transports call it per connection; tests build as many as they like.
 * It declares `tools` and `logging`: `logging/setLevel` is honoured per session (ClientLog).
 */
const USE_INSTRUCTIONS =
  ' To use a secret without seeing it, prefer http_request ({{ass://<namespace>/<key>}} placeholders) or run_with_secrets (env references ass://<namespace>/<key>): ' +
  'the value never enters this conversation.';

export function createMcpServer(deps: { service: SecretService; agent: AgentSettings; name: string; readOnly: boolean; current?: () => AgentSettings }): McpServer {
  const use = deps.service.settings.config.use;
  const instructions = INSTRUCTIONS + (use?.commands || use?.http ? USE_INSTRUCTIONS : '');
  const server = new McpServer({ name: deps.name, version: SERVER_VERSION }, { capabilities: { tools: {}, logging: {} }, instructions });
  // The agent is looked up again at each call: grants edited in the config apply to open sessions.
  // A transport whose principal is not a configured agent as such (an OAuth grant) says how.
  const current = deps.current ?? (() => deps.service.currentAgent(deps.agent));
  const context = { service: deps.service, get agent() { return current(); } };
  registerTools(server, context, deps.readOnly, new ClientLog(server));
  return server;
}
