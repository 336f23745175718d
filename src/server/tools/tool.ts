import type { z } from 'zod';
import type { ToolName } from '../../config/schema.js';
import type { SecretService } from '../secret-service.js';
import type { AgentSettings } from '../settings.js';

/** What a tool handler gets: the pipeline and the agent this session authenticated as. */
export interface ToolContext {
  service: SecretService;
  agent: AgentSettings;
}

/** One MCP tool: its contract (schemas, all four annotation hints) and a thin handler over the service. */
export interface ToolDefinition<Input extends z.ZodObject = z.ZodObject> {
  name: ToolName;
  title: string;
  description: string;
  inputSchema: Input;
  outputSchema: z.ZodObject;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  handle(context: ToolContext, input: z.infer<Input>): Promise<object>;
}

export function defineTool<Input extends z.ZodObject>(tool: ToolDefinition<Input>): ToolDefinition<Input> {
  return tool;
}
