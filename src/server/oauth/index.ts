import { dirname, join } from 'node:path';
import { loadOrCreateSigningKey } from '../../approvals/tokens.js';
import type { Runtime } from '../runtime.js';
import { OAuthService } from './service.js';
import { FileOAuthStore } from './store.js';

export { OAuthError, OAuthService, type AgentChoice, type OAuthPrincipal, type PendingAuthorization } from './service.js';
export type { OAuthGrantRecord } from './store.js';

const services = new WeakMap<Runtime, Promise<OAuthService | null>>();

/**
 * The runtime's OAuth service (one per runtime, shared by the HTTP routes and the dashboard's
 * consent pages), or null when `auth.oauth` is not configured. Access tokens are signed with
 * the same key as scoped tokens (`token-signing.key`) but carry `typ: at+jwt` and this server's
 * MCP URL as audience, so neither kind is accepted where the other is expected.
 */
export function oauthFor(runtime: Runtime): Promise<OAuthService | null> {
  let service = services.get(runtime);
  if (!service) {
    const config = runtime.settings.config.auth.oauth;
    service = config
      ? loadOrCreateSigningKey(runtime.settings.signingKeyPath).then((key) => new OAuthService(runtime, config, key, new FileOAuthStore(join(dirname(runtime.settings.statePath), 'oauth.json'))))
      : Promise.resolve(null);
    services.set(runtime, service);
  }
  return service;
}
