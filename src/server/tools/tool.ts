import type { z } from 'zod';
import type { ToolName } from '../../config/schema.js';
import type { SecretService } from '../secret-service.js';
import type { AgentSettings } from '../settings.js';

/** What a tool handler gets: the pipeline and the agent this session authenticated as. */
export interface ToolContext {
  service: SecretService;
  agent: AgentSettings;
}

/**
 * One MCP tool: its contract (schemas, all four annotation hints) and a thin handler over the
 * service. The handler's answer is typed as its output schema's type, so an answer of the wrong
 * shape does not compile: the SDK's per-call check of the answer against the schema (a zod parse
 * of every result) is not needed, and registry.ts does not ask for it.
 */
export interface ToolDefinition<Input extends z.ZodObject = z.ZodObject, Output extends z.ZodObject = z.ZodObject> {
  name: ToolName;
  title: string;
  description: string;
  inputSchema: Input;
  outputSchema: Output;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
  handle(context: ToolContext, input: z.infer<Input>): Promise<z.infer<Output>>;
}

export function defineTool<Input extends z.ZodObject, Output extends z.ZodObject>(tool: ToolDefinition<Input, Output>): ToolDefinition<Input, Output> {
  return tool;
}
