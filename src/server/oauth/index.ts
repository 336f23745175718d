import { dirname, join } from 'node:path';
import { loadOrCreateSigningKey } from '../../approvals/tokens.js';
import type { Runtime } from '../runtime.js';
import type { Settings } from '../settings.js';
import { AssError } from '../../shared/errors.js';
import { loopbackDocumentsFromEnv } from './test-loopback-documents.js';
import { OAuthService } from './service.js';
import { FileOAuthStore, type OAuthStore } from './store.js';
import { PgOAuthStore } from './pg-store.js';
import { OAUTH_MIGRATIONS } from './pg-migrations.js';
import { openComponentPool } from '../postgres-setup.js';

/**
 * Refuses `auth.oauth` on a plain-http listener reachable beyond loopback when nothing fixes
 * the public URL (`auth.oauth.resource_url` or `dashboard.public_url`): the metadata would
 * advertise http:// endpoints and clients would send codes and refresh tokens in clear text.
 * @throws AssError CONFIG_INVALID.
 */
export function checkOAuthOrigin(settings: Settings, scheme: 'http' | 'https', host: string): void {
  const oauth = settings.config.auth.oauth;
  // A half-set test switch refuses the start rather than the first sign-in.
  if (oauth) loopbackDocumentsFromEnv();
  if (!oauth || scheme === 'https' || oauth.resource_url || settings.config.dashboard?.public_url) return;
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare)) return;
  throw new AssError('CONFIG_INVALID', `auth.oauth on a plain-http listener (${host}) needs the public https URL clients use: set dashboard.public_url (behind a TLS proxy) or auth.oauth.resource_url, or listen on loopback, or give http.tls.`);
}

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
      ? Promise.all([loadOrCreateSigningKey(runtime.settings.signingKeyPath), openOAuthStore(runtime)]).then(([key, store]) => new OAuthService(runtime, config, key, store, loopbackDocumentsFromEnv()))
      : Promise.resolve(null);
    services.set(runtime, service);
    // A failure (PostgreSQL unreachable, schema behind) is retried at the next request, not cached.
    service.catch(() => {
      if (services.get(runtime) === service) services.delete(runtime);
    });
  }
  return service;
}

/**
 * Where sign-ins are kept: with `state: { type: postgres }` in the shared database (component
 * 'oauth', migrated with the rest or at start with `migrate_on_start`), so every replica serves
 * every sign-in; otherwise `oauth.json` beside the state. The PostgreSQL pool closes with the runtime.
 */
async function openOAuthStore(runtime: Runtime): Promise<OAuthStore> {
  const state = runtime.settings.config.state;
  if (state.type !== 'postgres') return new FileOAuthStore(join(dirname(runtime.settings.statePath), 'oauth.json'));
  return new PgOAuthStore(await openComponentPool(runtime, OAUTH_MIGRATIONS, 'agent-secret-store oauth'));
}
