import { z } from 'zod';
import { MAX_REQUEST_SCOPE_LENGTH, MAX_SCOPES_PER_REQUEST } from '../../approvals/limits.js';
import { defineTool } from './tool.js';
import { ReasonField } from './schemas.js';

export const requestTokenTool = defineTool({
  name: 'request_token',
  title: 'Request scoped token',
  description:
    'Request a scoped short-lived access token, e.g. scopes ["secrets:read:production/gemini/*"], ttl "15m" | "1h" | "24h". ' +
    'Scopes within the agent\'s grants are issued at once, unless they reach a secret whose access tier needs a human (the highest tier reached decides); those, and scopes beyond the grants, need a human: the answer then has requires_approval: true and an approval_id for get_approval_status. ' +
    'The token is for the REST API (Authorization: Bearer <token>, e.g. GET /v1/secrets/<namespace>/<key>) or a program you hand it to; these MCP tools do not take it.',
  inputSchema: z
    .object({
      scopes: z.array(z.string().min(1).max(MAX_REQUEST_SCOPE_LENGTH)).min(1).max(MAX_SCOPES_PER_REQUEST).describe("secrets:<read|write|list|use|*>:<namespace>/<key>, whole-segment globs * and ** (read and use cover list; use lets the value be used without being revealed); or namespaces:read"),
      ttl: z.string().max(16).optional().describe('Optional: "15m", "1h", "24h" etc.'),
      max_uses: z.number().int().min(1).max(1_000_000).optional().describe('Optional: how many requests the token may make'),
      reason: ReasonField.optional(),
    })
    .strict(),
  outputSchema: z.object({
    token: z.string().optional(),
    token_id: z.string().optional(),
    expires_at: z.string().optional(),
    requires_approval: z.boolean(),
    scopes: z.array(z.string()).optional(),
    ttl: z.string().optional(),
    approval_id: z.string().optional(),
    message: z.string().optional(),
    approval_url: z.string().optional(),
  }),
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  handle: ({ service, agent }, input) => service.requestToken(agent, input),
});
