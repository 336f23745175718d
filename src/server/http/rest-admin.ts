import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import { AssError } from '../../shared/errors.js';
import { decideApproval } from '../human-decisions.js';
import { humanDeleteSecret, humanRotateSecret } from '../human-secrets.js';
import { credentialFrom, type HttpContext } from './context.js';
import { body, decodePathParam, exact, secretMatch, type RestRoute } from './rest-common.js';
import { sendJson } from './respond.js';
import { parseSecretPath } from './secret-path.js';

/**
 * The human side over REST: approve, deny, delete, rotate, list approvals. Only an admin key
 * is accepted; an agent key or a token gets 403 HUMAN_AUTH_REQUIRED, whatever its scopes.
 * Each operation is audited before it acts, as the CLI does (fail closed).
 */
async function admin(ctx: HttpContext, req: IncomingMessage): Promise<string> {
  const credential = await credentialFrom(ctx, req);
  // Security: no agent credential can ever approve, delete or rotate, not even through a token.
  if (credential.kind !== 'admin') throw new AssError('HUMAN_AUTH_REQUIRED', 'This is a human operation: it needs an admin key. Agents cannot approve, deny, delete or rotate.');
  return credential.adminId;
}

const approvalIdMatch = (verb: string) => (p: string) => {
  const m = new RegExp(`^/v1/approvals/([^/]+)/${verb}$`).exec(p);
  return m ? { id: decodePathParam(m[1]!) } : null;
};

const RotateSchema = z
  .object({ value: z.string().min(1).optional(), generate: z.boolean().optional(), bytes: z.number().int().min(16).max(1024).optional() })
  .strict()
  .refine((b) => Boolean(b.value) !== Boolean(b.generate), { message: 'give exactly one of value or generate: true' });

function decisionRoute(verb: 'approve' | 'deny'): RestRoute {
  return {
    method: 'POST', path: `/v1/approvals/{id}/${verb}`, match: approvalIdMatch(verb), operationId: `${verb}Approval`, tool: `admin_${verb}`, auth: 'admin_key',
    summary: verb === 'approve' ? 'Approve a pending request (human; admin key)' : 'Deny a pending request, or cancel one still in its delay (human; admin key)',
    responses: { '200': 'Recorded', '401': 'Missing or unknown key', '403': 'Not an admin key', '404': 'No such approval', '409': 'Not pending' },
    async handle(ctx, req, res, params) {
      const adminId = await admin(ctx, req);
      const result = await decideApproval(ctx.runtime, { verb, id: params.id!, adminId, via: 'rest' });
      sendJson(res, 200, { ...result.view, agent_id: result.approval.agent_id });
    },
  };
}

export const HUMAN_ROUTES: RestRoute[] = [
  {
    method: 'GET', path: '/v1/approvals', match: exact('/v1/approvals'), operationId: 'listApprovals', tool: 'admin_list_approvals', auth: 'admin_key',
    query: [{ name: 'all', required: false, description: '"true" to include resolved and expired requests' }],
    summary: 'List approval requests (human; admin key)',
    responses: { '200': 'Approval requests', '401': 'Missing or unknown key', '403': 'Not an admin key' },
    async handle(ctx, req, res, _params, url) {
      await admin(ctx, req);
      const all = url.searchParams.get('all') === 'true';
      const rows = (await ctx.runtime.approvals.list()).filter(({ view }) => all || view.status === 'pending');
      sendJson(res, 200, { items: rows.map(({ approval, view }) => ({ ...view, agent_id: approval.agent_id, scopes: approval.scopes, reason: approval.reason, created_at: approval.created_at })), total: rows.length });
    },
  },
  decisionRoute('approve'),
  decisionRoute('deny'),
  {
    method: 'DELETE', path: '/v1/secrets/{namespace}/{key}', match: secretMatch(), operationId: 'deleteSecret', tool: 'admin_delete', auth: 'admin_key',
    query: [{ name: 'force', required: false, description: '"true" skips a backend recovery window (irreversible)' }],
    summary: 'Delete a secret and all its versions (human; admin key)',
    responses: { '200': 'Deleted', '401': 'Missing or unknown key', '403': 'Not an admin key', '404': 'No such secret' },
    async handle(ctx, req, res, params, url) {
      const { namespace, key } = parseSecretPath(params.path!);
      const adminId = await admin(ctx, req);
      const force = url.searchParams.get('force') === 'true';
      sendJson(res, 200, await humanDeleteSecret(ctx.runtime, { adminId, via: 'rest' }, { namespace, key, force }));
    },
  },
  {
    method: 'POST', path: '/v1/secrets/{namespace}/{key}/rotate', match: secretMatch('/rotate'), operationId: 'rotateSecret', tool: 'admin_rotate', auth: 'admin_key', body: RotateSchema,
    summary: 'Write a new version: the given value, or a generated one that is never returned (human; admin key)',
    responses: { '200': 'Rotated', '400': 'Invalid body', '401': 'Missing or unknown key', '403': 'Not an admin key', '404': 'No such secret' },
    async handle(ctx, req, res, params) {
      const { namespace, key } = parseSecretPath(params.path!);
      const adminId = await admin(ctx, req);
      const input = await body(ctx, req, RotateSchema);
      const rotated = await humanRotateSecret(ctx.runtime, { adminId, via: 'rest' }, { namespace, key, ...(input.generate ? { generateBytes: input.bytes ?? 32 } : { value: input.value! }) });
      sendJson(res, 200, { rotated: true, ...rotated });
    },
  },
];
