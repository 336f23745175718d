import { z } from 'zod';
import { SecretMetadataSchema } from '../../policy/metadata.js';
import { MAX_REQUEST_SCOPE_LENGTH, MAX_SCOPES_PER_REQUEST } from '../../approvals/limits.js';
import { AssError } from '../../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { credentialFrom, rateLimit } from './context.js';
import { IpAllowlistSchema } from './ip-allowlist.js';
import { HUMAN_ROUTES } from './rest-admin.js';
import { body, decodePathParam, exact, secretMatch, type RestRoute } from './rest-common.js';
import { HOSTED_ROUTES, readOrList } from './rest-hosted.js';
import { HttpError, sendJson } from './respond.js';
import { restWording } from './rest-wording.js';
import { parseSecretPath } from './secret-path.js';
import { tokenCall } from './token-call.js';
import { ReasonField } from '../tools/schemas.js';
import { httpRequestTool } from '../tools/use-tools.js';
import { httpRequest } from '../use-calls.js';

const TokenRequestSchema = z
  .object({
    scopes: z.array(z.string().max(MAX_REQUEST_SCOPE_LENGTH)).min(1).max(MAX_SCOPES_PER_REQUEST),
    ttl: z.string().max(16).optional(),
    max_uses: z.number().int().min(1).max(1_000_000).optional(),
    ip_allowlist: IpAllowlistSchema.optional().describe('IPs or CIDR blocks the token is accepted from on this API (the TCP peer address; behind a proxy, the proxy)'),
    reason: ReasonField.optional(),
  })
  .strict();
const PutSecretSchema = z
  .object({
    value: z.string(),
    secret_type: z.enum(SECRET_TYPES).optional(),
    access_tier: z.enum(ACCESS_TIERS).optional(),
    // null: the hosted product's SDK always sends `metadata: null` when it has none.
    metadata: SecretMetadataSchema.nullable().optional(),
    expected_version: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('Check-and-set: write only if the newest version is this one (0: only if the secret does not exist yet); otherwise 409 CONFLICT with current_version. Atomic where the backend has check-and-set (file, Vault KV v2, AWS); read-then-write on Vault KV v1'),
  })
  .strict();

const AGENT_ROUTES: RestRoute[] = [
  {
    method: 'POST', path: '/v1/tokens', match: exact('/v1/tokens'), operationId: 'requestToken', tool: 'request_token', auth: 'agent_key', body: TokenRequestSchema,
    summary: 'Exchange the agent key for a scoped, short-lived token (or an approval id when a human must approve)',
    responses: { '200': 'Token issued', '202': 'Human approval required (the scopes reach a tier that needs a human, or go beyond the grants): approval_id returned', '400': 'Invalid scopes, ttl or ip_allowlist', '401': 'Missing or unknown agent key', '403': 'SCOPE_DENIED: a human-only action (delete, rotate), or a scope the agent is denied', '429': 'RATE_LIMITED, or TOO_MANY_PENDING / TOO_MANY_TOKENS naming the cap' },
    async handle(ctx, req, res) {
      const credential = await credentialFrom(ctx, req);
      if (credential.kind !== 'agent') throw new AssError('UNAUTHENTICATED', 'POST /v1/tokens takes the agent key as Authorization: Bearer <agent key>.');
      await rateLimit(ctx, credential.agent.config.id, 'rest');
      const input = await body(ctx, req, TokenRequestSchema);
      const answer = await ctx.runtime.service.requestToken(credential.agent, input);
      if (answer.requires_approval) return sendJson(res, 202, { ...answer, message: restWording(answer.message, answer.approval_id) });
      sendJson(res, 200, answer);
    },
  },
  {
    method: 'GET', path: '/v1/secrets', match: exact('/v1/secrets'), operationId: 'listSecrets', tool: 'list_secrets', auth: 'token',
    query: [{ name: 'namespace', required: true, description: 'Namespace to list (exactly; not its children)' }],
    summary: 'List secret metadata in a namespace (never values)',
    responses: { '200': 'Metadata of the visible secrets', '400': 'Missing or invalid namespace', '401': 'Missing or invalid token', '403': 'Not allowed' },
    async handle(ctx, req, res, _params, url) {
      const { credential, restriction } = await tokenCall(ctx, req);
      const namespace = url.searchParams.get('namespace');
      if (!namespace) throw new AssError('INVALID_ARGUMENT', 'Give the namespace to list: GET /v1/secrets?namespace=<namespace>.');
      // The service's items carry id and labels besides the seed's fields (never values).
      sendJson(res, 200, await ctx.runtime.service.listSecrets(credential.agent, { namespace }, restriction));
    },
  },
  {
    method: 'GET', path: '/v1/secrets/{namespace}/{key}', match: secretMatch(), operationId: 'getSecret', tool: 'get_secret', auth: 'token',
    query: [{ name: 'reason', required: false, description: 'Why the agent needs it (at most 500 characters), shown to the human if an approval is opened' }],
    summary: 'Read a secret value. {namespace} may span several segments ("production/gemini"); each segment URL-encoded, "/" kept',
    responses: { '200': 'The value and its metadata (or, for a namespace path the token may only list, its listing)', '401': 'Missing or invalid token', '403': 'Denied (SCOPE_DENIED), or APPROVAL_REQUIRED with approval_id', '404': 'No such secret' },
    async handle(ctx, req, res, params, url) {
      parseSecretPath(params.path!);
      const reasonParam = url.searchParams.get('reason');
      const reason = reasonParam === null ? undefined : ReasonField.safeParse(reasonParam);
      if (reason && !reason.success) throw new AssError('INVALID_ARGUMENT', reason.error.issues[0]!.message);
      const { credential, restriction } = await tokenCall(ctx, req);
      const target = readOrList(params.path!, restriction.scopes);
      if (target.kind === 'list') {
        sendJson(res, 200, await ctx.runtime.service.listSecrets(credential.agent, { namespace: target.namespace }, restriction));
        return;
      }
      const { namespace, key } = target;
      const answer = await ctx.runtime.service.getSecret(credential.agent, { namespace, key, ...(reason?.data ? { reason: reason.data } : {}) }, restriction);
      sendJson(res, 200, { namespace, key, ...answer });
    },
  },
  {
    method: 'PUT', path: '/v1/secrets/{namespace}/{key}', match: secretMatch(), operationId: 'setSecret', tool: 'set_secret', auth: 'token', body: PutSecretSchema,
    summary: 'Store or update a secret (a new version). {namespace} may span several segments',
    responses: { '200': 'Stored', '400': 'Invalid input', '401': 'Missing or invalid token', '403': 'Denied, or APPROVAL_REQUIRED', '409': 'expected_version is not the newest version (CONFLICT, with current_version)', '413': 'Value or body too large' },
    async handle(ctx, req, res, params) {
      const { namespace, key } = parseSecretPath(params.path!);
      const { credential, restriction } = await tokenCall(ctx, req);
      const { metadata, ...input } = await body(ctx, req, PutSecretSchema);
      const answer = await ctx.runtime.service.setSecret(credential.agent, { namespace, key, ...input, ...(metadata ? { metadata } : {}) }, restriction);
      sendJson(res, 200, answer);
    },
  },
  {
    method: 'GET', path: '/v1/namespaces', match: exact('/v1/namespaces'), operationId: 'listNamespaces', tool: 'list_namespaces', auth: 'token',
    summary: 'List the namespaces visible to this token',
    responses: { '200': 'Namespaces', '401': 'Missing or invalid token' },
    async handle(ctx, req, res) {
      const { credential, restriction } = await tokenCall(ctx, req);
      sendJson(res, 200, await ctx.runtime.service.listNamespaces(credential.agent, restriction));
    },
  },
  {
    method: 'GET', path: '/v1/approvals/{id}', match: (p) => (/^\/v1\/approvals\/[^/]+$/.test(p) ? { id: decodePathParam(p.slice('/v1/approvals/'.length)) } : null),
    operationId: 'getApprovalStatus', tool: 'get_approval_status', auth: 'agent_key_or_token',
    summary: "Status of one of this agent's approval requests (pending | approved | denied | expired); an admin key sees any",
    responses: { '200': 'Status', '401': 'Missing or invalid credential', '404': 'No such approval for this agent' },
    async handle(ctx, req, res, params) {
      const credential = await credentialFrom(ctx, req);
      if (credential.kind === 'admin') {
        const found = (await ctx.runtime.approvals.list()).find(({ approval }) => approval.id === params.id);
        if (!found) throw new AssError('APPROVAL_NOT_FOUND', `No approval request '${params.id}'.`);
        sendJson(res, 200, { ...found.view, agent_id: found.approval.agent_id, scopes: found.approval.scopes, reason: found.approval.reason });
        return;
      }
      await rateLimit(ctx, credential.agent.config.id, 'rest');
      sendJson(res, 200, await ctx.runtime.service.approvalStatus(credential.agent, { approval_id: params.id! }));
    },
  },
  {
    method: 'POST', path: '/v1/use/http', match: exact('/v1/use/http'), operationId: 'useHttp', tool: 'http_request', auth: 'token', body: httpRequestTool.inputSchema,
    summary: 'Send an HTTP request carrying {{ass://ns/key}} placeholders without revealing them (the http_request tool; only when use.http is configured; docs/use.md). The token needs secrets:use scopes',
    responses: { '200': '{status, headers, body, truncated}: the destination\'s answer, masked and capped', '400': 'Invalid request', '401': 'Missing or invalid token', '403': 'The destination is not allowed for a secret (nothing sent), denied, or APPROVAL_REQUIRED', '404': 'use.http is not configured' },
    async handle(ctx, req, res) {
      if (!ctx.runtime.settings.config.use?.http) throw new HttpError(404, 'NOT_FOUND', 'POST /v1/use/http is off: this server has no use.http section (docs/use.md).');
      const { credential, restriction } = await tokenCall(ctx, req);
      const input = await body(ctx, req, httpRequestTool.inputSchema);
      sendJson(res, 200, await httpRequest(ctx.runtime.service, credential.agent, input, restriction));
    },
  },
];

/** Every REST route, agent-facing first; human operations need the admin key. */
export const REST_ROUTES: RestRoute[] = [...AGENT_ROUTES, ...HOSTED_ROUTES, ...HUMAN_ROUTES];
