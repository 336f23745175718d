import { z } from 'zod';
import { toListSecretsResponse } from '../responses.js';
import { defineTool } from './tool.js';
import { NamespaceField, SecretSummaryFields, TimestampField } from './schemas.js';

export const listSecretsTool = defineTool({
  name: 'list_secrets',
  title: 'List secrets',
  description: 'List secret metadata in a namespace (values are never returned).',
  inputSchema: z.object({ namespace: NamespaceField }).strict(),
  outputSchema: z.object({
    namespace: z.string(),
    items: z.array(z.object({ ...SecretSummaryFields, updated_at: TimestampField })),
    total: z.number().int(),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: async ({ service, agent }, input) => toListSecretsResponse(await service.listSecrets(agent, input)),
});
