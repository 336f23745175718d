import { z } from 'zod';
import { defineTool } from './tool.js';
import { HumanAuthOutput, KeyField, NamespaceField } from './schemas.js';

/**
 * delete_secret and rotate_secret: one tool shape with a different verb. Neither ever acts; it
 * answers requires_human_auth: true and says where a human does it.
 */
export function humanOperationTool(operation: 'delete' | 'rotate', noun: 'deletion' | 'rotation') {
  return defineTool({
    name: `${operation}_secret`,
    title: `Request secret ${noun}`,
    description: `Request ${noun} of a secret. By design agents cannot ${operation}: this returns requires_human_auth: true and says where a human does it.`,
    inputSchema: z.object({ namespace: NamespaceField, key: KeyField }).strict(),
    outputSchema: HumanAuthOutput,
    // It never acts, so it is read-only and not destructive.
    annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    handle: ({ service, agent }, input) => service.requestHumanOperation(agent, operation, input),
  });
}
