/**
 * The credential check of every REST route that takes a scoped token: the token's agent and
 * its restriction, after the rate limit, the token's `ip_allowlist` and one counted use.
 * Agent keys and admin keys are refused here.
 */
import type { IncomingMessage } from 'node:http';
import { AssError } from '../../shared/errors.js';
import type { TokenRestriction } from '../secret-service.js';
import { credentialFrom, rateLimit, type Credential, type HttpContext } from './context.js';
import { checkTokenAddress } from './ip-allowlist.js';

export type TokenCredential = Extract<Credential, { kind: 'token' }>;

export async function tokenCall(ctx: HttpContext, req: IncomingMessage): Promise<{ credential: TokenCredential; restriction: TokenRestriction }> {
  const credential = await credentialFrom(ctx, req);
  if (credential.kind === 'admin') throw new AssError('POLICY_DENIED', 'Admin keys are for human operations; they do not read or write secrets through the API.');
  if (credential.kind === 'agent') throw new AssError('UNAUTHENTICATED', 'This route takes a scoped token: exchange the agent key at POST /v1/tokens and send Authorization: Bearer <token>.');
  await rateLimit(ctx, credential.agent.config.id, 'rest');
  // Security: the address check comes before the use is counted, so a stolen token replayed from
  // elsewhere cannot even spend the owner's uses.
  checkTokenAddress(credential.token.ip_allowlist, req.socket.remoteAddress);
  // Security: count the use before acting, so a max_uses token cannot be raced past its limit.
  await ctx.runtime.tokens.consumeUse(credential.token.token_id);
  const { token } = credential;
  return { credential, restriction: { token_id: token.token_id, scopes: token.scopes, ...(token.approval_id ? { approval_id: token.approval_id } : {}) } };
}
