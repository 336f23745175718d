import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { normalizeObjectSchema } from '@modelcontextprotocol/sdk/server/zod-compat.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { toolAllowed } from '../access.js';
import type { ClientLog } from '../client-log.js';
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
import { httpRequestTool, runWithSecretsTool } from './use-tools.js';

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
  return [...TOOLS, ...useTools(context)].filter((tool) => toolAllowed(context.agent, tool.name, readOnly));
}

/** The use-without-reveal tools, each only when its config section exists (the default list stays the eight). */
function useTools(context: ToolContext): ToolDefinition[] {
  const use = context.service.settings.config.use;
  return [...(use?.commands ? [runWithSecretsTool] : []), ...(use?.http ? [httpRequestTool] : [])] as unknown as ToolDefinition[];
}

export function registerTools(server: McpServer, context: ToolContext, readOnly: boolean, log?: ClientLog): void {
  const registered = toolsFor(context, readOnly).map((tool) => ({
    tool,
    sdk: server.registerTool(
      tool.name,
      // The input schema is the SDK's: it validates every agent's arguments before the handler.
      // The output schema is not given to the SDK, which would zod-parse every answer of ours
      // (~25 µs per call over stdio, bench/RESULTS.md): each handler's answer is typed as its
      // output schema (tool.ts), so a wrong shape does not compile; tools/list below still
      // advertises the schema, and clients check answers against it.
      { title: tool.title, description: tool.description, inputSchema: tool.inputSchema, annotations: { title: tool.title, ...tool.annotations } },
      async (input: unknown, extra) => {
        let result;
        try {
          result = toolSuccess(await tool.handle(context, input as never));
        } catch (error) {
          result = toolError(error);
        }
        await log?.toolOutcome(extra, tool.name, result);
        return result;
      },
    ),
  }));
  // The SDK's own tools/list converts every zod schema to JSON Schema on each call: about 6 ms
  // for our eight (bench/RESULTS.md), paid by every session. A tool's schemas never change, so
  // they are converted once per process; the entry is otherwise built as McpServer builds it.
  server.server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: registered
      .filter(({ sdk }) => sdk.enabled)
      .map(({ tool, sdk }): Tool => ({
        name: tool.name,
        title: sdk.title,
        description: sdk.description,
        ...schemasOf(tool),
        annotations: sdk.annotations,
        execution: sdk.execution,
        _meta: sdk._meta,
      })),
  }));
}

const converted = new WeakMap<ToolDefinition, Pick<Tool, 'inputSchema' | 'outputSchema'>>();

/** A tool's input and output JSON Schemas, converted as McpServer converts them, once. */
function schemasOf(tool: ToolDefinition): Pick<Tool, 'inputSchema' | 'outputSchema'> {
  let schemas = converted.get(tool);
  if (!schemas) {
    const jsonSchema = (schema: ToolDefinition['inputSchema'], pipeStrategy: 'input' | 'output') =>
      toJsonSchemaCompat(normalizeObjectSchema(schema)!, { strictUnions: true, pipeStrategy }) as Tool['inputSchema'];
    schemas = { inputSchema: jsonSchema(tool.inputSchema, 'input'), outputSchema: jsonSchema(tool.outputSchema, 'output') };
    converted.set(tool, schemas);
  }
  return schemas;
}
