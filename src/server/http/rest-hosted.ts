/**
 * The REST routes the hosted product's own clients call, besides the ones both share
 * (`@agentsecretstore/sdk` and the `@agentsecretstore/mcp` server send exactly these):
 * - `GET /v1/secrets/{namespace}`: list a namespace by path (the namespace one encoded segment,
 *   or, from the SDK, its segments joined by a literal "/": see `readOrList`);
 * - `GET /v1/approvals/agent/{id}`: an agent's own approval, with its agent key;
 * - `POST /v1/secrets/import`: a `.env` body, each entry a versioned write through the pipeline.
 * Every check of the pipeline applies: these handlers only translate.
 */
import { parse as parseDotenv } from 'dotenv';
import { z } from 'zod';
import { parseScope, scopeCouldMatchIn, scopeMatches } from '../../policy/index.js';
import { AssError, isAssError } from '../../shared/errors.js';
import { ACCESS_TIERS, SECRET_TYPES } from '../../shared/types.js';
import { credentialFrom, rateLimit } from './context.js';
import { body, decodePathParam, exact, type RestRoute } from './rest-common.js';
import { HTTP_STATUS, sendJson } from './respond.js';
import { parseNamespacePath, parseSecretPath } from './secret-path.js';
import { tokenCall } from './token-call.js';

/** Most entries one import may carry. */
export const MAX_IMPORT_ENTRIES = 500;

/**
 * `GET /v1/secrets/a/b` names either the secret `b` in `a` or the namespace `a/b` (the SDK's
 * `listSecrets('a/b')` sends the latter). The caller's own token decides, as the SDK asks for
 * `secrets:read:<namespace>/*` before listing: a read of the secret when a token scope matches
 * it as a secret; else a listing when a token scope could match inside the whole path as a
 * namespace; else a read (refused by the token check, as before).
 */
export function readOrList(rest: string, tokenScopes: readonly string[]): { kind: 'read'; namespace: string; key: string } | { kind: 'list'; namespace: string } {
  const secret = parseSecretPath(rest);
  const scopes = tokenScopes.map(parseScope);
  if (scopes.some((s) => scopeMatches(s, 'read', secret.namespace, secret.key))) return { kind: 'read', ...secret };
  const whole = `${secret.namespace}/${secret.key}`;
  if (scopes.some((s) => scopeCouldMatchIn(s, 'list', whole))) return { kind: 'list', namespace: whole };
  return { kind: 'read', ...secret };
}

const ImportSchema = z
  .object({
    namespace: z.string().max(512),
    content: z.string(),
    secret_type: z.enum(SECRET_TYPES).optional(),
    access_tier: z.enum(ACCESS_TIERS).optional(),
    metadata: z.record(z.string().max(256), z.string().max(4096)).nullable().optional(),
  })
  .strict();

type ImportResult = { key: string; ok: true; version: number } | { key: string; ok: false; error: { code: string; message: string } };

export const HOSTED_ROUTES: RestRoute[] = [
  {
    method: 'GET', path: '/v1/secrets/{namespace}', match: (p) => (/^\/v1\/secrets\/[^/]+$/.test(p) ? { path: p.slice('/v1/secrets/'.length) } : null),
    operationId: 'listSecretsByPath', tool: 'list_secrets', auth: 'token',
    summary: 'List secret metadata in a namespace (never values); the namespace as one URL-encoded segment (production%2Fgemini). A scope secrets:read:<namespace>/* covers listing',
    responses: { '200': 'Metadata of the visible secrets', '400': 'Invalid namespace', '401': 'Missing or invalid token', '403': 'Not allowed (SCOPE_DENIED)' },
    async handle(ctx, req, res, params) {
      const namespace = parseNamespacePath(params.path!);
      const { credential, restriction } = await tokenCall(ctx, req);
      sendJson(res, 200, await ctx.runtime.service.listSecrets(credential.agent, { namespace }, restriction));
    },
  },
  {
    method: 'GET', path: '/v1/approvals/agent/{id}', match: (p) => (/^\/v1\/approvals\/agent\/[^/]+$/.test(p) ? { id: decodePathParam(p.slice('/v1/approvals/agent/'.length)) } : null),
    operationId: 'getOwnApprovalStatus', tool: 'get_approval_status', auth: 'agent_key_or_token',
    summary: "Status of one of this agent's own approval requests (the hosted product's path); another agent's id answers as an unknown one",
    responses: { '200': 'Status', '401': 'Missing or invalid credential', '404': 'No such approval for this agent' },
    async handle(ctx, req, res, params) {
      const credential = await credentialFrom(ctx, req);
      if (credential.kind === 'admin') throw new AssError('POLICY_DENIED', 'This route is for agents; a human reads any approval at GET /v1/approvals/{id}.');
      await rateLimit(ctx, credential.agent.config.id, 'rest');
      const view = await ctx.runtime.service.approvalStatus(credential.agent, { approval_id: params.id! });
      sendJson(res, 200, { approval_id: params.id, ...view });
    },
  },
  {
    method: 'POST', path: '/v1/secrets/import', match: exact('/v1/secrets/import'), operationId: 'importEnv', tool: 'set_secret', auth: 'token', body: ImportSchema,
    summary: 'Import a .env file into a namespace: each entry a versioned write through the pipeline (policy, tiers, audit), with a result per entry. Not all-or-nothing',
    responses: { '200': 'Per-entry results (imported, failed)', '400': 'Invalid body, or no entries', '401': 'Missing or invalid token', '403': 'Every entry refused (the first refusal, with the results)' },
    async handle(ctx, req, res) {
      const { credential, restriction } = await tokenCall(ctx, req);
      const input = await body(ctx, req, ImportSchema);
      // dotenv's own parser (comments, quotes, `export`, multi-line values), never eval.
      const entries = Object.entries(parseDotenv(input.content));
      if (entries.length === 0) throw new AssError('INVALID_ARGUMENT', 'The content has no KEY=value entries.');
      if (entries.length > MAX_IMPORT_ENTRIES) throw new AssError('INVALID_ARGUMENT', `The content has ${entries.length} entries; at most ${MAX_IMPORT_ENTRIES} per import.`);
      const results: ImportResult[] = [];
      // One entry after another: each is its own versioned, audited write; a refusal of one
      // does not undo the ones before it.
      for (const [i, [key, value]] of entries.entries()) {
        try {
          // Security: every entry after the first is one more call against the agent's rate
          // limit, so one import cannot write more than the limit allows separate writes.
          // Likewise one more use of the token: a max_uses token cannot import more than its uses.
          if (i > 0) {
            await rateLimit(ctx, credential.agent.config.id, 'rest');
            await ctx.runtime.tokens.consumeUse(restriction.token_id);
          }
          const written = await ctx.runtime.service.setSecret(
            credential.agent,
            { namespace: input.namespace, key, value, ...(input.secret_type ? { secret_type: input.secret_type } : {}), ...(input.access_tier ? { access_tier: input.access_tier } : {}), ...(input.metadata ? { metadata: input.metadata } : {}) },
            restriction,
          );
          results.push({ key, ok: true, version: written.version });
        } catch (error) {
          // Security: only AssError texts (free of values) are passed on; the service already
          // turned anything else into INTERNAL with a correlation id.
          const failure = isAssError(error) ? error : new AssError('INTERNAL', 'Internal error.');
          results.push({ key: safeKey(key), ok: false, error: { code: failure.code === 'POLICY_DENIED' ? 'SCOPE_DENIED' : failure.code, message: failure.message } });
        }
      }
      const imported = results.filter((r) => r.ok).map((r) => r.key);
      const failed = results.filter((r): r is Extract<ImportResult, { ok: false }> => !r.ok);
      const answer = { namespace: input.namespace, imported, imported_count: imported.length, failed: failed.map((f) => ({ key: f.key, ...f.error })), failed_count: failed.length, results };
      if (imported.length === 0) {
        const first = failed[0]!.error;
        const status = HTTP_STATUS[(first.code === 'SCOPE_DENIED' ? 'POLICY_DENIED' : first.code) as keyof typeof HTTP_STATUS] ?? 400;
        sendJson(res, status, { error: { ...first, imported_count: 0, failed_count: failed.length, results }, detail: first.message });
        return;
      }
      sendJson(res, 200, answer);
    },
  },
];

/** A key from the body, shown back only when it is a plain name (never a value-like blob). */
function safeKey(key: string): string {
  return /^[A-Za-z0-9_.@+=-]{1,128}$/.test(key) ? key : '(invalid key)';
}
