import { z } from 'zod';
import { defineTool } from './tool.js';
import { HumanAuthOutput, KeyField, NamespaceField } from './schemas.js';

export const rotateSecretTool = defineTool({
  name: 'rotate_secret',
  title: 'Request secret rotation',
  description: 'Request rotation of a secret. By design agents cannot rotate: this returns requires_human_auth: true and says where a human does it.',
  inputSchema: z.object({ namespace: NamespaceField, key: KeyField }).strict(),
  outputSchema: HumanAuthOutput,
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: ({ service, agent }, input) => service.requestHumanOperation(agent, 'rotate', input),
});
