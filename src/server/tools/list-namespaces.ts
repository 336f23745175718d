import { z } from 'zod';
import { defineTool } from './tool.js';

export const listNamespacesTool = defineTool({
  name: 'list_namespaces',
  title: 'List namespaces',
  description: 'List all distinct namespaces visible to this agent.',
  inputSchema: z.object({}).strict(),
  outputSchema: z.object({ namespaces: z.array(z.string()), total: z.number().int() }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: ({ service, agent }) => service.listNamespaces(agent),
});
