import { z } from 'zod';
import { defineTool } from './tool.js';

export const getApprovalStatusTool = defineTool({
  name: 'get_approval_status',
  title: 'Get approval status',
  description: 'Check the status of a human approval request: pending | approved | denied | expired. While pending, approval_url (when given) is the page where a human decides.',
  inputSchema: z.object({ approval_id: z.uuid().describe('The approval_id from get_secret or request_token') }).strict(),
  outputSchema: z.object({
    status: z.enum(['pending', 'approved', 'denied', 'expired']),
    resolved_at: z.string().nullable(),
    expires_at: z.string(),
    effective_at: z.string().optional(),
    approvals_received: z.number().int(),
    approvals_required: z.number().int(),
    approval_url: z.string().optional(),
  }),
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  handle: ({ service, agent }, input) => service.approvalStatus(agent, input),
});
