import { z } from 'zod';
import { MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_TOTAL_BYTES, MAX_METADATA_VALUE_BYTES, SecretMetadataSchema } from '../../policy/metadata.js';
import { MAX_VALUE_BYTES } from '../../shared/types.js';
import { toSetSecretResponse } from '../responses.js';
import { defineTool } from './tool.js';
import { AccessTierField, KeyField, NamespaceField, SecretSummaryFields, SecretTypeField } from './schemas.js';

export const setSecretTool = defineTool({
  name: 'set_secret',
  title: 'Set secret',
  description:
    'Store or update an encrypted secret in the vault. Each write makes a new version. ' +
    `secret_type: api_key | oauth_token | db_credential | ssh_key | certificate | custom; access_tier: standard | sensitive | critical (a tier can be raised, never lowered). Values up to ${MAX_VALUE_BYTES} bytes.`,
  inputSchema: z
    .object({
      namespace: NamespaceField,
      key: KeyField,
      // No length cap here: the service checks the byte limit, so every oversize value gets the
      // same VALUE_TOO_LARGE error (a character cap would answer differently for ASCII and UTF-8).
      value: z.string().describe(`The secret value, at most ${MAX_VALUE_BYTES} bytes (UTF-8)`),
      secret_type: SecretTypeField.optional(),
      access_tier: AccessTierField.optional(),
      metadata: SecretMetadataSchema.optional().describe(`Labels such as {"team": "ml"}: at most ${MAX_METADATA_ENTRIES} entries, keys ≤ ${MAX_METADATA_KEY_BYTES} bytes, values ≤ ${MAX_METADATA_VALUE_BYTES} bytes, ${MAX_METADATA_TOTAL_BYTES} bytes in all; never put secrets here`),
    })
    .strict(),
  outputSchema: z.object({ id: z.string(), ...SecretSummaryFields }),
  // destructiveHint: true, decided deliberately (issue 9). Every write is a new version, but it
  // replaces the value every reader gets from then on (a production credential overwritten is an
  // outage until a human rolls it back), and old versions last only while the backend keeps them
  // (file backend: max_versions, default 20). The MCP spec's false means "only additive updates";
  // a client should ask its user before an overwrite, so true is the honest hint.
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
  handle: async ({ service, agent }, input) => toSetSecretResponse(await service.setSecret(agent, input)),
});
