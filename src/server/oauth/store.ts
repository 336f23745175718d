import { createHash } from 'node:crypto';
import { AssError } from '../../shared/errors.js';
import { SharedJsonFile } from '../../shared/shared-json-file.js';

/**
 * What the authorization server keeps: registered clients, grants (one per consent), sign-ins
 * waiting for a human (pending authorizations) and authorization codes. Two implementations of
 * one interface: `oauth.json` beside the state (FileOAuthStore, one server) and PostgreSQL
 * (pg-store.ts, `state: { type: postgres }`, shared by every replica). Every must-happen-once
 * rule is an operation here, done atomically by the store: a code redeemed once, a refresh token
 * rotated once, a pending sign-in answered once.
 * Security: codes and refresh tokens are kept as sha256 only, pending sign-ins by the sha256 of
 * their id (the consent page's URL): nothing stored can be presented back.
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

/** A sign-in waiting for the human's consent (the consent page), as stored. */
export interface OAuthPendingRecord {
  client: OAuthClientRecord;
  redirectUri: string;
  state?: string;
  codeChallenge: string;
  resource: string;
  issuer: string;
  createdAt: number;
  expiresAt: number;
  /** The address the authorize request came from (client-address.ts), shown on the consent page. */
  address?: string;
}

/**
 * A dashboard sign-in through the identity provider (auth.oidc) between leaving for the provider
 * and its callback, as stored under `oidcPendingKey(id)` (the id is only in the browser's cookie).
 * `sealed` holds the PKCE verifier, state, nonce and return path, encrypted with a key derived
 * from the id (oidc-pending.ts): what is stored cannot finish a sign-in without the cookie.
 */
export interface OidcPendingRecord {
  sealed: string;
  createdAt: number;
  expiresAt: number;
}

/** An authorization code, as stored under the sha256 of the code. */
export interface OAuthCodeRecord {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  resource: string;
  issuer: string;
  human: string;
  /** The consenting admin's key hash: the grant dies when that admin is removed or re-keyed. */
  humanKeySha256?: string;
  agentId: string;
  template?: string;
  agentKeySha256?: string;
  scopes: string[];
  clientName: string;
  expiresAt: number;
  /** Set once exchanged: a second use revokes this grant (RFC 6749 §4.1.2). */
  grantId?: string;
}

export interface OAuthState {
  clients: Record<string, OAuthClientRecord>;
  grants: Record<string, OAuthGrantRecord>;
}

/** Which grant `updateGrant` works on: by id, or by a refresh token's hash (the live one or one already used). */
export type GrantLookup = { id: string } | { refreshSha256: string };

/** What redeeming a code did: issued the grant, or found the code already used (by that grant), or nothing (unknown, expired). */
export type Redemption = { issued: true } | { reusedGrantId: string } | { unknown: true };

export interface OAuthPruneCutoffs {
  /** Grants revoked or expired before this instant (ms) are dropped. */
  grantsEndedBefore: number;
  /** Pending sign-ins and codes whose expiry is before this instant (ms) are dropped. */
  expiredBefore: number;
  /** Dynamically registered clients that never got a grant and were registered before this instant (ms) are dropped. */
  clientsUnusedBefore: number;
}

export interface OAuthStore {
  /** Every client and grant (the dashboard's list; whole-state reads). */
  read(): Promise<OAuthState>;
  /** Runs `fn` on clients and grants under the store's exclusive lock and saves what it changed (rare, whole-state changes). */
  transact<T>(fn: (state: OAuthState) => T): Promise<T>;
  client(clientId: string): Promise<OAuthClientRecord | undefined>;
  /**
   * Registers a client. At `max` clients the oldest one without any grant is dropped first.
   * @returns false (nothing stored) when every one of `max` clients has a grant.
   */
  addClient(record: OAuthClientRecord, max: number): Promise<boolean>;
  /** Whether any grant (even revoked) was made for this client: a person saw its redirect URI. */
  clientHasGrant(clientId: string): Promise<boolean>;
  grant(id: string): Promise<OAuthGrantRecord | undefined>;
  listGrants(): Promise<OAuthGrantRecord[]>;
  /**
   * Locks one grant (across replicas), runs `fn` on it (which may change it) and saves it.
   * @returns what `fn` returned, or undefined when no grant matches.
   */
  updateGrant<T>(lookup: GrantLookup, fn: (grant: OAuthGrantRecord) => T): Promise<T | undefined>;
  /**
   * Keeps a sign-in for the consent page. At `max` live ones the oldest live ones (soonest to
   * expire) are dropped first: a flood ages out its own sign-ins instead of refusing everyone's.
   */
  addPending(id: string, record: OAuthPendingRecord, max: number): Promise<void>;
  /** A live pending sign-in (not expired at `now`). */
  pending(id: string, now: number): Promise<OAuthPendingRecord | undefined>;
  /** Removes and returns a live pending sign-in: of two answers (any replica) only one gets it. */
  takePending(id: string, now: number): Promise<OAuthPendingRecord | undefined>;
  /** Keeps a sign-in through the identity provider; at `max` live ones the oldest live ones make room (as addPending). */
  addOidcPending(id: string, record: OidcPendingRecord, max: number): Promise<void>;
  /** Removes and returns a live one: of two callbacks (any replica) only one gets it. */
  takeOidcPending(id: string, now: number): Promise<OidcPendingRecord | undefined>;
  addCode(codeSha256: string, record: OAuthCodeRecord): Promise<void>;
  /** A live code (not expired at `now`), redeemed or not. */
  code(codeSha256: string, now: number): Promise<OAuthCodeRecord | undefined>;
  /**
   * Redeems a live code: marks it used by `grant` and stores `grant`, in one step. A code already
   * used returns the grant it made (the caller revokes it), whichever replica redeemed it.
   */
  redeemCode(codeSha256: string, now: number, grant: OAuthGrantRecord): Promise<Redemption>;
  /** Drops ended grants, pending sign-ins (both kinds) and codes past their expiry, and never-used dynamic clients. */
  prune(cutoffs: OAuthPruneCutoffs): Promise<void>;
  close(): Promise<void>;
}

/** The key a pending sign-in is stored under: its id is the consent URL, a capability. */
export const pendingKey = (id: string): string => createHash('sha256').update(`oauth-pending:${id}`).digest('hex');

/** The key a sign-in through the identity provider is stored under: its id is the browser's cookie, a capability. */
export const oidcPendingKey = (id: string): string => createHash('sha256').update(`oidc-pending:${id}`).digest('hex');

/** The grant a lookup names in a list of grants. */
export function findGrant(grants: Iterable<OAuthGrantRecord>, lookup: GrantLookup): OAuthGrantRecord | undefined {
  for (const grant of grants) {
    if ('id' in lookup ? grant.id === lookup.id : grant.refresh_sha256 === lookup.refreshSha256 || grant.used_refresh_sha256.includes(lookup.refreshSha256)) return grant;
  }
  return undefined;
}

/** The instant a grant ended (revoked, or its refresh token expired), in ms. */
export const grantEndedAt = (g: OAuthGrantRecord): number => (g.revoked_at ? Date.parse(g.revoked_at) : Date.parse(g.refresh_expires_at));

/** oauth.json: clients and grants (the first format), plus pending sign-ins and codes since they survive restarts. */
interface FileData extends OAuthState {
  pending: Record<string, OAuthPendingRecord>;
  codes: Record<string, OAuthCodeRecord>;
  /** Sign-ins through the identity provider waiting for its callback (absent in older files). */
  oidc_pending: Record<string, OidcPendingRecord>;
}

/** Removes the record at `key` (single use) and returns it if it has not expired. */
function takeUnexpired<T extends { expiresAt: number }>(records: Record<string, T>, key: string, now: number): T | undefined {
  const record = records[key];
  delete records[key];
  return record && record.expiresAt > now ? record : undefined;
}

/** Drops expired entries, then the soonest to expire until one more fits under `max` (R-6: a flood ages out its own). */
function makeRoom(table: Record<string, { expiresAt: number }>, now: number, max: number): void {
  for (const [key, p] of Object.entries(table)) if (p.expiresAt <= now) delete table[key];
  const live = Object.entries(table).sort(([, x], [, y]) => x.expiresAt - y.expiresAt);
  for (const [key] of live.slice(0, Math.max(0, live.length - max + 1))) delete table[key];
}

/** Only the cache's: a record handed out is a copy, so a caller that changes it cannot change the cache. */
const copy = <T>(value: T): T => structuredClone(value);

/** `oauth.json` beside state.json, written atomically under a file lock (durable-file.ts). */
export class FileOAuthStore implements OAuthStore {
  /**
   * The file, read through the last parse while its stamp is unchanged: authenticate reads
   * a grant on every MCP request, and re-parsing the whole file each time stalled the event loop.
   * Every must-happen-once rule runs in `doc.change`, on what the file holds under the lock.
   */
  private readonly doc: SharedJsonFile<FileData>;

  constructor(path: string) {
    this.doc = new SharedJsonFile(path, (text) => this.parse(text));
  }

  private parse(text: string | null): FileData {
    if (text === null) return { clients: {}, grants: {}, pending: {}, codes: {}, oidc_pending: {} };
    try {
      const parsed = JSON.parse(text) as Partial<FileData>;
      // A file written before pending sign-ins and codes were kept has neither: both start empty.
      return { clients: parsed.clients ?? {}, grants: parsed.grants ?? {}, pending: parsed.pending ?? {}, codes: parsed.codes ?? {}, oidc_pending: parsed.oidc_pending ?? {} };
    } catch {
      throw new AssError('INTEGRITY_ERROR', 'The OAuth grant file (oauth.json) is not valid JSON; restore it from a backup or delete it (every remote sign-in ends).');
    }
  }

  async read(): Promise<OAuthState> {
    const { clients, grants } = this.doc.read();
    return copy({ clients, grants });
  }

  transact<T>(fn: (state: OAuthState) => T): Promise<T> {
    return this.doc.change(fn);
  }

  async client(clientId: string): Promise<OAuthClientRecord | undefined> {
    const { clients } = this.doc.read();
    return Object.hasOwn(clients, clientId) ? copy(clients[clientId]) : undefined;
  }

  addClient(record: OAuthClientRecord, max: number): Promise<boolean> {
    return this.doc.change((data) => {
      if (Object.keys(data.clients).length >= max) {
        const withGrant = new Set(Object.values(data.grants).map((g) => g.client_id));
        const spare = Object.values(data.clients).filter((c) => !withGrant.has(c.client_id)).sort((a, b) => a.registered_at.localeCompare(b.registered_at));
        if (spare.length === 0) return false;
        delete data.clients[spare[0]!.client_id];
      }
      data.clients[record.client_id] = record;
      return true;
    });
  }

  async clientHasGrant(clientId: string): Promise<boolean> {
    return Object.values(this.doc.read().grants).some((g) => g.client_id === clientId);
  }

  async grant(id: string): Promise<OAuthGrantRecord | undefined> {
    const { grants } = this.doc.read();
    return Object.hasOwn(grants, id) ? copy(grants[id]) : undefined;
  }

  async listGrants(): Promise<OAuthGrantRecord[]> {
    return copy(Object.values(this.doc.read().grants));
  }

  async updateGrant<T>(lookup: GrantLookup, fn: (grant: OAuthGrantRecord) => T): Promise<T | undefined> {
    return this.doc.change((data) => {
      const grant = findGrant(Object.values(data.grants), lookup);
      return grant ? fn(grant) : undefined;
    });
  }

  async addPending(id: string, record: OAuthPendingRecord, max: number): Promise<void> {
    await this.doc.change((data) => {
      const live = Object.entries(data.pending).filter(([, p]) => p.expiresAt > record.createdAt).sort(([, x], [, y]) => x.expiresAt - y.expiresAt);
      for (const [key] of live.slice(0, Math.max(0, live.length - max + 1))) delete data.pending[key];
      data.pending[pendingKey(id)] = record;
    });
  }

  async pending(id: string, now: number): Promise<OAuthPendingRecord | undefined> {
    const record = this.doc.read().pending[pendingKey(id)];
    return record && record.expiresAt > now ? copy(record) : undefined;
  }

  takePending(id: string, now: number): Promise<OAuthPendingRecord | undefined> {
    return this.doc.change((data) => takeUnexpired(data.pending, pendingKey(id), now));
  }

  async addOidcPending(id: string, record: OidcPendingRecord, max: number): Promise<void> {
    await this.doc.change((data) => {
      makeRoom(data.oidc_pending, record.createdAt, max);
      data.oidc_pending[oidcPendingKey(id)] = record;
    });
  }

  takeOidcPending(id: string, now: number): Promise<OidcPendingRecord | undefined> {
    return this.doc.change((data) => takeUnexpired(data.oidc_pending, oidcPendingKey(id), now));
  }

  async addCode(codeSha256: string, record: OAuthCodeRecord): Promise<void> {
    await this.doc.change((data) => {
      data.codes[codeSha256] = record;
    });
  }

  async code(codeSha256: string, now: number): Promise<OAuthCodeRecord | undefined> {
    const record = this.doc.read().codes[codeSha256];
    return record && record.expiresAt > now ? copy(record) : undefined;
  }

  redeemCode(codeSha256: string, now: number, grant: OAuthGrantRecord): Promise<Redemption> {
    return this.doc.change((data): Redemption => {
      const record = data.codes[codeSha256];
      if (!record || record.expiresAt <= now) return { unknown: true };
      if (record.grantId) return { reusedGrantId: record.grantId };
      record.grantId = grant.id;
      data.grants[grant.id] = grant;
      return { issued: true };
    });
  }

  async prune(cutoffs: OAuthPruneCutoffs): Promise<void> {
    await this.doc.change((data) => {
      for (const [id, g] of Object.entries(data.grants)) if (grantEndedAt(g) < cutoffs.grantsEndedBefore) delete data.grants[id];
      for (const [key, p] of Object.entries(data.pending)) if (p.expiresAt < cutoffs.expiredBefore) delete data.pending[key];
      for (const [key, p] of Object.entries(data.oidc_pending)) if (p.expiresAt < cutoffs.expiredBefore) delete data.oidc_pending[key];
      for (const [key, c] of Object.entries(data.codes)) if (c.expiresAt < cutoffs.expiredBefore) delete data.codes[key];
      const withGrant = new Set(Object.values(data.grants).map((g) => g.client_id));
      for (const [id, c] of Object.entries(data.clients)) if (c.kind === 'dynamic' && !withGrant.has(id) && Date.parse(c.registered_at) < cutoffs.clientsUnusedBefore) delete data.clients[id];
    });
  }

  async close(): Promise<void> {}
}
