import { z } from 'zod';
import { defineTool } from './tool.js';
import { HumanAuthOutput, KeyField, NamespaceField } from './schemas.js';

export const deleteSecretTool = defineTool({
  name: 'delete_secret',
  title: 'Request secret deletion',
  description: 'Request deletion of a secret. By design agents cannot delete: this returns requires_human_auth: true and says where a human does it.',
  inputSchema: z.object({ namespace: NamespaceField, key: KeyField }).strict(),
  outputSchema: HumanAuthOutput,
  // It never acts, so it is read-only and not destructive.
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: ({ service, agent }, input) => service.requestHumanOperation(agent, 'delete', input),
});
