import { z } from 'zod';
import { toGetSecretResponse } from '../responses.js';
import { defineTool } from './tool.js';
import { AccessTierField, KeyField, NamespaceField, ReasonField, SecretTypeField } from './schemas.js';

export const getSecretTool = defineTool({
  name: 'get_secret',
  title: 'Get secret',
  description:
    'Retrieve a decrypted secret value from the vault. If the secret needs human approval, the error carries an approval ID: ' +
    'call get_approval_status with it, and retry once it is approved. Give a short reason: the human sees it when deciding.',
  inputSchema: z.object({ namespace: NamespaceField, key: KeyField, reason: ReasonField.optional() }).strict(),
  outputSchema: z.object({
    value: z.string(),
    secret_type: SecretTypeField,
    access_tier: AccessTierField,
    metadata: z.record(z.string(), z.string()),
    version: z.number().int(),
  }),
  // Reads only: it never changes a secret (it may open an approval request for a human).
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: async ({ service, agent }, input) => toGetSecretResponse(await service.getSecret(agent, input)),
});
