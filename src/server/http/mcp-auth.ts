import type { IncomingMessage } from 'node:http';
import { OAuthError, oauthFor } from '../oauth/index.js';
import { PROTECTED_RESOURCE_PATH } from '../oauth/routes.js';
import { AGENT_KEYS_OFF } from '../authenticate.js';
import type { AgentSettings } from '../settings.js';
import { agentFromHeader, baseUrl, type HttpContext } from './context.js';
import { HttpError } from './respond.js';
import { traced } from '../tracing/tracing.js';

/** Who an MCP request speaks for, and who owns the sessions it opens. */
export interface McpPrincipal {
  agent: AgentSettings;
  /** The agent id for an agent key; agent id + grant for a signed-in person (a session answers only its owner). */
  owner: string;
  /**
   * The agent at each tool call of a session this request opens (grants edited in the config
   * count at once). For a signed-in person it re-resolves the grant, never the configured agent.
   * It reads the settings as refreshed by the authentication of the request that carries the
   * call (every MCP request over HTTP authenticates first), so a call costs one config stat.
   */
  current: () => AgentSettings;
}

/**
 * Authenticates an MCP request over HTTP. With `auth.oauth`, `Authorization: Bearer <access
 * token>` is checked on every request (MCP authorization, 2025-11-25), and a request without
 * credentials gets 401 with `WWW-Authenticate: Bearer resource_metadata=…` (RFC 9728 §5.1).
 * `x-agent-key` works beside it unless `auth.agent_keys: false`.
 * @throws HttpError 401 with the challenge, or AssError UNAUTHENTICATED for a bad agent key.
 */
export function mcpPrincipal(ctx: HttpContext, req: IncomingMessage): Promise<McpPrincipal> {
  return traced(ctx.runtime.tracer, 'ass.auth', { 'ass.transport': 'mcp' }, async (span) => {
    const principal = await resolvePrincipal(ctx, req);
    span.set({ 'ass.agent.id': principal.agent.config.id, 'ass.outcome': 'ok' });
    return principal;
  });
}

async function resolvePrincipal(ctx: HttpContext, req: IncomingMessage): Promise<McpPrincipal> {
  const oauth = await oauthFor(ctx.runtime);
  const { agent_keys: agentKeys } = ctx.runtime.settings.config.auth;
  const origin = baseUrl(ctx, req);
  const authorization = req.headers.authorization;
  if (oauth && typeof authorization === 'string') {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw challenge(origin, 'invalid_request', 'Send Authorization: Bearer <access token>.');
    try {
      const { agent, grant } = await oauth.authenticate(match[1]!, origin);
      return { agent, owner: `${agent.config.id}#${grant.id}`, current: () => ctx.runtime.live.alreadyRefreshed(() => oauth.currentAgent(grant)) };
    } catch (error) {
      if (error instanceof OAuthError) throw challenge(origin, error.error, error.description);
      throw error;
    }
  }
  if (req.headers['x-agent-key'] !== undefined) {
    if (!agentKeys) throw challenge(origin, 'invalid_request', AGENT_KEYS_OFF);
    return keyPrincipal(ctx, req);
  }
  if (oauth) throw challenge(origin);
  return keyPrincipal(ctx, req);
}

function keyPrincipal(ctx: HttpContext, req: IncomingMessage): McpPrincipal {
  const agent = agentFromHeader(ctx, req);
  return { agent, owner: agent.config.id, current: () => ctx.runtime.live.alreadyRefreshed(() => ctx.runtime.service.currentAgent(agent)) };
}

/** 401 with the RFC 6750 / RFC 9728 challenge that starts a client's discovery. */
function challenge(origin: string, error?: string, description?: string): HttpError {
  const quoted = (s: string): string => s.replace(/["\\\r\n]/g, ' ').slice(0, 300);
  const params = [`resource_metadata="${origin}${PROTECTED_RESOURCE_PATH}/mcp"`, ...(error ? [`error="${quoted(error)}"`] : []), ...(description ? [`error_description="${quoted(description)}"`] : [])];
  const message = description ?? 'This server needs a sign-in: follow WWW-Authenticate (resource_metadata) to its authorization server, or send x-agent-key.';
  return new HttpError(401, 'UNAUTHENTICATED', message, { 'www-authenticate': `Bearer ${params.join(', ')}` });
}
