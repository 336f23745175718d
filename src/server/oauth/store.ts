import { withFileLock, writeFileAtomic, readSmallFileSync } from '../../shared/durable-file.js';
import { AssError } from '../../shared/errors.js';

/**
 * What the authorization server keeps across restarts: registered clients and grants (one per
 * consent). Authorization codes and pending consents live in memory only (minutes long).
 * Behind this small interface so it can move into the state store (src/state/) unchanged.
 */

export interface OAuthClientRecord {
  client_id: string;
  client_name?: string;
  client_uri?: string;
  redirect_uris: string[];
  /** `dynamic` (RFC 7591) or `metadata_document` (client_id is the document's URL). */
  kind: 'dynamic' | 'metadata_document';
  registered_at: string;
}

export interface OAuthGrantRecord {
  id: string;
  client_id: string;
  /** The client's name as shown at consent (untrusted text). */
  client_name: string;
  redirect_host: string;
  /** The agent the client acts as. */
  agent_id: string;
  /** Set when the agent is a per-person agent made from this template. */
  template?: string;
  /** For an existing agent: its key hash at consent; the grant dies when that key is replaced. */
  agent_key_sha256?: string;
  /** Who consented, e.g. `admin:alice`. */
  human: string;
  /** The consenting admin's key hash at consent: the grant dies when that admin is removed or re-keyed. */
  human_key_sha256?: string;
  scopes: string[];
  resource: string;
  created_at: string;
  revoked_at?: string;
  revoked_by?: string;
  /** sha256 of the live refresh token; rotated on every use. */
  refresh_sha256: string;
  refresh_expires_at: string;
  /** sha256 of refresh tokens already used: presenting one again revokes the grant (reuse detection). */
  used_refresh_sha256: string[];
  last_used_at?: string;
}

export interface OAuthState {
  clients: Record<string, OAuthClientRecord>;
  grants: Record<string, OAuthGrantRecord>;
}

export interface OAuthStore {
  read(): Promise<OAuthState>;
  /** Runs `fn` on the current state under a lock and saves what it changed. */
  transact<T>(fn: (state: OAuthState) => T): Promise<T>;
}

const empty = (): OAuthState => ({ clients: {}, grants: {} });

/** `oauth.json` beside state.json, written atomically under a file lock (durable-file.ts). */
export class FileOAuthStore implements OAuthStore {
  constructor(private readonly path: string) {}

  async read(): Promise<OAuthState> {
    const text = readSmallFileSync(this.path);
    if (text === null) return empty();
    try {
      const parsed = JSON.parse(text) as Partial<OAuthState>;
      return { clients: parsed.clients ?? {}, grants: parsed.grants ?? {} };
    } catch {
      throw new AssError('INTEGRITY_ERROR', 'The OAuth grant file (oauth.json) is not valid JSON; restore it from a backup or delete it (every remote sign-in ends).');
    }
  }

  transact<T>(fn: (state: OAuthState) => T): Promise<T> {
    return withFileLock(this.path, async () => {
      const state = await this.read();
      const out = fn(state);
      await writeFileAtomic(this.path, JSON.stringify(state));
      return out;
    });
  }
}
