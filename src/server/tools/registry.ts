import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { toolAllowed } from '../access.js';
import { toolError, toolSuccess } from '../tool-result.js';
import type { ToolContext, ToolDefinition } from './tool.js';
import { getSecretTool } from './get-secret.js';
import { setSecretTool } from './set-secret.js';
import { listSecretsTool } from './list-secrets.js';
import { listNamespacesTool } from './list-namespaces.js';
import { deleteSecretTool } from './delete-secret.js';
import { rotateSecretTool } from './rotate-secret.js';
import { requestTokenTool } from './request-token.js';
import { getApprovalStatusTool } from './get-approval-status.js';

/** The eight tools, in the seed's order. */
export const TOOLS: readonly ToolDefinition[] = [
  getSecretTool, setSecretTool, listSecretsTool, listNamespacesTool,
  deleteSecretTool, rotateSecretTool, requestTokenTool, getApprovalStatusTool,
] as unknown as ToolDefinition[];

/**
 * The tools this agent may see: all eight, less the writing ones in read-only mode, less
 * those outside the agent's allow-list. What is not registered cannot be called.
 */
export function toolsFor(context: ToolContext, readOnly: boolean): ToolDefinition[] {
  return TOOLS.filter((tool) => toolAllowed(context.agent, tool.name, readOnly));
}

export function registerTools(server: McpServer, context: ToolContext, readOnly: boolean): void {
  for (const tool of toolsFor(context, readOnly)) {
    server.registerTool(
      tool.name,
      { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, outputSchema: tool.outputSchema, annotations: { title: tool.title, ...tool.annotations } },
      async (input: unknown) => {
        try {
          return toolSuccess(await tool.handle(context, input as never));
        } catch (error) {
          return toolError(error);
        }
      },
    );
  }
}
