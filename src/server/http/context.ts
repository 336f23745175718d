import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import type { VerifiedToken } from '../../approvals/tokens.js';
import { AssError } from '../../shared/errors.js';
import { ADMIN_KEY_PREFIX, AGENT_KEY_PREFIX } from '../keys.js';
import { AGENT_KEYS_OFF, agentKeysAccepted, authenticateAdmin, authenticateAgent } from '../authenticate.js';
import { oauthFor } from '../oauth/index.js';
import type { Runtime } from '../runtime.js';
import type { AgentSettings } from '../settings.js';
import type { Metrics } from './metrics.js';
import type { HttpOptions } from './options.js';
import type { SharedRateLimiter } from '../rate-limit.js';
import { traced } from '../tracing/tracing.js';

/** What every HTTP handler shares: the runtime (one pipeline), options, metrics and the limiter. */
export interface HttpContext {
  runtime: Runtime;
  options: HttpOptions;
  metrics: Metrics;
  /** `http.rate_limit`, kept by the state store (shared by every replica on PostgreSQL). */
  limiter: SharedRateLimiter;
  logger: Logger;
  scheme: 'http' | 'https';
}

/** `scheme://Host` as the client reached us (Host already checked by the guard). */
export function baseUrl(ctx: HttpContext, req: IncomingMessage): string {
  return `${ctx.scheme}://${req.headers.host ?? `${ctx.options.host}:${ctx.options.port}`}`;
}

/**
 * Where a human approves: the deep link (`dashboard.public_url`, `server.approval_url`, or the
 * dashboard this setup serves; see links.ts), else this server's instructions page.
 */
export function approvalPage(ctx: HttpContext, req: IncomingMessage): (id: string) => string {
  const base = baseUrl(ctx, req);
  return (id) => ctx.runtime.links.approval(id) ?? `${base}/approvals/${encodeURIComponent(id)}`;
}

/**
 * The agent named by `x-agent-key` on an MCP request. Never read from the query string.
 * @throws AssError UNAUTHENTICATED (401) when missing or unknown.
 */
export function agentFromHeader(ctx: HttpContext, req: IncomingMessage): AgentSettings {
  const raw = req.headers['x-agent-key'];
  const key = Array.isArray(raw) ? undefined : raw;
  if (!key && req.headers.authorization) {
    throw new AssError('UNAUTHENTICATED', 'MCP over HTTP authenticates with the x-agent-key header, not Authorization: Bearer.');
  }
  return authenticateAgent(ctx.runtime.live.refresh(), key);
}

/**
 * Takes `count` calls (default one) from the agent's budget, or refuses before anything else runs.
 * When the budget cannot be read (PostgreSQL down) the request fails with STATE_UNAVAILABLE:
 * an uncounted call is never let through.
 */
export async function rateLimit(ctx: HttpContext, agentId: string, transport: string, count = 1): Promise<void> {
  const verdict = await ctx.limiter.take(agentId, count);
  if (!verdict.ok) {
    ctx.metrics.observeRateLimited(transport);
    throw new AssError('RATE_LIMITED', `Too many requests for this agent; retry in ${verdict.retryAfterS}s.`, { retry_after_s: verdict.retryAfterS });
  }
}

/**
 * A JSON-RPC batch (an array) costs one call per message: the request already paid for one
 * when it arrived, the rest are taken here, all or none, before any message is dispatched.
 * Security: without this a batch of 100 tool calls would pay for one.
 */
export async function rateLimitBatch(ctx: HttpContext, agentId: string, transport: string, body: unknown): Promise<void> {
  if (Array.isArray(body) && body.length > 1) await rateLimit(ctx, agentId, transport, body.length - 1);
}

export type Credential =
  | { kind: 'agent'; agent: AgentSettings }
  | { kind: 'token'; agent: AgentSettings; token: VerifiedToken }
  | { kind: 'admin'; adminId: string };

/**
 * Resolves `Authorization: Bearer …` on a REST request: an admin key, an agent key or a scoped
 * token (JWT), told apart by prefix. Keys are matched in constant time; tokens are verified
 * (signature, expiry, revocation, uses) but a use is not yet counted.
 * @throws AssError UNAUTHENTICATED (401).
 */
export function credentialFrom(ctx: HttpContext, req: IncomingMessage): Promise<Credential> {
  return traced(ctx.runtime.tracer, 'ass.auth', { 'ass.transport': 'rest' }, async (span) => {
    const credential = await resolveCredential(ctx, req);
    span.set({ 'ass.outcome': 'ok', ...(credential.kind === 'admin' ? {} : { 'ass.agent.id': credential.agent.config.id }) });
    return credential;
  });
}

async function resolveCredential(ctx: HttpContext, req: IncomingMessage): Promise<Credential> {
  const header = req.headers.authorization;
  const match = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) {
    throw new AssError('UNAUTHENTICATED', 'Send Authorization: Bearer <agent key> to POST /v1/tokens, then Authorization: Bearer <token> on the other routes.');
  }
  const presented = match[1]!;
  const settings = ctx.runtime.live.refresh();
  if (presented.startsWith(ADMIN_KEY_PREFIX)) return { kind: 'admin', adminId: authenticateAdmin(settings, presented) };
  if (presented.startsWith(AGENT_KEY_PREFIX)) return { kind: 'agent', agent: authenticateAgent(settings, presented) };
  const token = await ctx.runtime.tokens.verify(presented);
  if (token.grant_id) {
    // Security: a token asked for under an OAuth sign-in dies with that grant (H13-3).
    const oauth = await oauthFor(ctx.runtime);
    if (!oauth) throw new AssError('UNAUTHENTICATED', 'This token was asked for under an OAuth sign-in, and OAuth is off on this server.');
    const agent = await oauth.tokenAgent(token.grant_id);
    if (agent.config.id !== token.agent_id || (token.key_sha256 && token.key_sha256 !== agent.config.key_sha256)) throw new AssError('UNAUTHENTICATED', 'The sign-in this token was asked under now acts as another agent. Call request_token again.');
    return { kind: 'token', agent, token };
  }
  // Security: with agent keys off, a token an agent key asked for (before the switch) is off too.
  if (!agentKeysAccepted(settings)) throw new AssError('UNAUTHENTICATED', AGENT_KEYS_OFF);
  const agent = settings.agents.find((a) => a.config.id === token.agent_id);
  if (!agent) throw new AssError('UNAUTHENTICATED', 'The agent this token was issued to no longer exists.');
  // Security: a token dies with the key that asked for it, even if its agent id is reused.
  if (token.key_sha256 && token.key_sha256 !== agent.config.key_sha256) throw new AssError('UNAUTHENTICATED', 'The agent key this token was issued to has been replaced. Call request_token again.');
  return { kind: 'token', agent, token };
}
