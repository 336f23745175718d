import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { OAuthClientMetadataSchema } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { OAuthConfig } from '../../config/auth-schema.js';
import { AssError } from '../../shared/errors.js';
import { compileAgent, parseScope, parseTtl, scopeCovers } from '../../policy/index.js';
import type { Runtime } from '../runtime.js';
import type { AgentSettings } from '../settings.js';
import type { OAuthClientRecord, OAuthCodeRecord, OAuthGrantRecord, OAuthPendingRecord, OAuthStore, OidcPendingRecord } from './store.js';
import { checkRedirectUri, fetchClientMetadataDocument, isClientMetadataUrl } from './clients.js';
import { isOidcHuman, oidcIssuerHash, oidcPersonAgentId, templateStillMapped } from './oidc-person.js';

/**
 * The built-in OAuth 2.1 authorization server and the protected resource's token check, as the
 * MCP authorization spec (2025-11-25) asks: authorization code + PKCE S256 only, public
 * clients (registered dynamically or by a client ID metadata document), exact redirect URIs,
 * resource indicators (RFC 8707) binding every token to this server's MCP URL, refresh tokens
 * rotated on use with reuse detection. The human step (sign-in, consent) is the dashboard's;
 * it calls `pending` and `decide`.
 */

/** An OAuth error response (RFC 6749 §5.2): `error` and a description for people. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

/** A sign-in waiting for the human's consent, as the consent page shows it: the stored record and its id. */
export interface PendingAuthorization extends Omit<OAuthPendingRecord, 'expiresAt'> {
  id: string;
}

/** The pending sign-in with its id (the id itself is never stored, only its hash). */
function pendingOf(id: string, record: OAuthPendingRecord): PendingAuthorization {
  const { expiresAt: _expires, ...rest } = record;
  return { id, ...rest };
}

/** The agent a consent makes the client act as. */
export type AgentChoice = { kind: 'existing'; id: string } | { kind: 'template'; name: string };

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

/** Who a verified access token speaks for. */
export interface OAuthPrincipal {
  agent: AgentSettings;
  grant: OAuthGrantRecord;
}

const CODE_TTL_MS = 60_000;
/** Housekeeping (ended grants, expired codes and sign-ins) runs at most this often per process. */
const PRUNE_EVERY_MS = 60_000;
const PENDING_TTL_MS = 10 * 60_000;
const MAX_PENDING = 1000;
const MAX_CLIENTS = 1000;
/** A dynamic registration that no person allowed within this time is dropped (R-7): the table holds what people use. */
const UNUSED_CLIENT_TTL_MS = 24 * 3_600_000;
/** The most a client record may weigh as stored (R-7): 1000 clients stay within ~4 MB. */
export const MAX_CLIENT_BYTES = 4096;
const MAX_CLIENT_URI = 2000;
const MAX_USED_REFRESH = 50;
const MAX_DOCUMENTS = 200;
const DOCUMENT_MIN_CACHE_MS = 5 * 60_000;
const DOCUMENT_MAX_CACHE_MS = 24 * 3_600_000;
const DOCUMENT_FAILURE_CACHE_MS = 60_000;
/** The one answer for every reason a client ID metadata document is refused. */
export const DOCUMENT_REFUSED = 'The client ID metadata document could not be fetched or is not a valid document.';
const REFRESH_PREFIX = 'oauth_rt_';
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');
const sameText = (a: string, b: string): boolean => {
  const x = Buffer.from(sha256(a), 'hex');
  const y = Buffer.from(sha256(b), 'hex');
  return timingSafeEqual(x, y);
};

/**
 * The per-person agent id for a template and a human (`admin:alice` → `<template>.alice`).
 * Never cut short: two people whose ids share a prefix would become one agent (shared approvals,
 * tokens and limits); consent refuses an id longer than an agent id may be (H13-6).
 */
export function personAgentId(template: string, human: string): string {
  const person = human.replace(/^[a-z]+:/, '').replace(/[^A-Za-z0-9_.-]/g, '_');
  return `${template}.${person}`;
}

const MAX_AGENT_ID = 64;

export class OAuthService {
  private lastPrune = Number.NEGATIVE_INFINITY;
  /** Client ID metadata documents by URL, oldest first (a bounded LRU). */
  private readonly documents = new Map<string, { client?: OAuthClientRecord; until: number }>();
  readonly accessTtlMs: number;
  private readonly refreshTtlMs: number;

  constructor(
    private readonly runtime: Runtime,
    private readonly config: OAuthConfig,
    private readonly key: Uint8Array,
    private readonly store: OAuthStore,
    /** TEST-ONLY (test-loopback-documents.ts): documents may come from loopback. */
    private readonly loopbackDocuments = false,
  ) {
    this.accessTtlMs = parseTtl(config.access_token_ttl);
    this.refreshTtlMs = parseTtl(config.refresh_token_ttl);
  }

  private now(): number {
    return this.runtime.clock().getTime();
  }

  /**
   * The MCP URL fixed by the config: `auth.oauth.resource_url`, else `dashboard.public_url`'s
   * origin + /mcp (behind a TLS proxy the listener's scheme and Host are the proxy's, and
   * metadata built from them would send codes and refresh tokens over plain http).
   */
  private configuredResource(): string | undefined {
    const publicUrl = this.runtime.settings.config.dashboard?.public_url;
    return this.config.resource_url ?? (publicUrl ? `${new URL(publicUrl).origin}/mcp` : undefined);
  }

  /** The MCP endpoint's URL: the token audience. */
  resourceFor(origin: string): string {
    return this.configuredResource() ?? `${origin}/mcp`;
  }

  /** The authorization server's issuer identifier: this server's origin. */
  issuerFor(origin: string): string {
    const fixed = this.configuredResource();
    return fixed ? new URL(fixed).origin : origin;
  }

  /** RFC 9728 protected resource metadata. */
  protectedResourceMetadata(origin: string): Record<string, unknown> {
    return {
      resource: this.resourceFor(origin),
      authorization_servers: [this.issuerFor(origin)],
      bearer_methods_supported: ['header'],
      resource_name: this.runtime.settings.config.server.name,
    };
  }

  /** RFC 8414 authorization server metadata. */
  authorizationServerMetadata(origin: string): Record<string, unknown> {
    const issuer = this.issuerFor(origin);
    return {
      issuer,
      authorization_endpoint: `${issuer}/oauth/authorize`,
      token_endpoint: `${issuer}/oauth/token`,
      revocation_endpoint: `${issuer}/oauth/revoke`,
      ...(this.config.dynamic_registration ? { registration_endpoint: `${issuer}/oauth/register` } : {}),
      response_types_supported: ['code'],
      response_modes_supported: ['query'],
      grant_types_supported: ['authorization_code', 'refresh_token'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['none'],
      revocation_endpoint_auth_methods_supported: ['none'],
      client_id_metadata_document_supported: this.config.client_id_metadata_documents,
      service_documentation: 'https://github.com/agentsecretstore/agent-secret-store/blob/main/docs/remote-auth.md',
    };
  }

  /** RFC 7591 dynamic client registration. Public clients only: PKCE is their proof. */
  async register(body: unknown): Promise<Record<string, unknown>> {
    if (!this.config.dynamic_registration) throw new OAuthError(404, 'invalid_request', 'Dynamic client registration is off on this server (auth.oauth.dynamic_registration).');
    const parsed = OAuthClientMetadataSchema.safeParse(body);
    if (!parsed.success) throw new OAuthError(400, 'invalid_client_metadata', `The client metadata is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ').slice(0, 300)}`);
    const meta = parsed.data;
    const redirectUris = this.checkRedirects(meta.redirect_uris, 'invalid_redirect_uri');
    const unsupportedGrant = (meta.grant_types ?? []).find((g) => g !== 'authorization_code' && g !== 'refresh_token');
    if (unsupportedGrant) throw new OAuthError(400, 'invalid_client_metadata', `grant_types: only authorization_code and refresh_token are supported, not ${JSON.stringify(unsupportedGrant.slice(0, 40))}.`);
    if ((meta.response_types ?? ['code']).some((r) => r !== 'code')) throw new OAuthError(400, 'invalid_client_metadata', 'response_types: only "code" is supported.');
    if ((meta.client_name ?? '').length > 200) throw new OAuthError(400, 'invalid_client_metadata', 'client_name: at most 200 characters.');
    if (meta.client_uri !== undefined) {
      // Security (R-7): registration is open to anyone; every stored field is bounded.
      if (meta.client_uri.length > MAX_CLIENT_URI) throw new OAuthError(400, 'invalid_client_metadata', `client_uri: at most ${MAX_CLIENT_URI} characters.`);
      if (!meta.client_uri.startsWith('https://')) throw new OAuthError(400, 'invalid_client_metadata', 'client_uri: must be an https:// URL.');
    }
    await this.prune();
    const now = this.now();
    const record: OAuthClientRecord = {
      client_id: randomUUID(),
      ...(meta.client_name ? { client_name: meta.client_name } : {}),
      ...(meta.client_uri ? { client_uri: meta.client_uri } : {}),
      redirect_uris: redirectUris,
      kind: 'dynamic',
      registered_at: new Date(now).toISOString(),
    };
    const bytes = Buffer.byteLength(JSON.stringify(record));
    if (bytes > MAX_CLIENT_BYTES) throw new OAuthError(400, 'invalid_client_metadata', `The client metadata is too large to keep (${bytes} bytes stored, at most ${MAX_CLIENT_BYTES}): use fewer or shorter redirect_uris, client_name or client_uri.`);
    // Security: registration is open to anyone; bound it, dropping old clients that never got a grant.
    if (!(await this.store.addClient(record, MAX_CLIENTS))) throw new OAuthError(400, 'invalid_client_metadata', 'Too many registered clients on this server; an operator must revoke some grants first.');
    await this.runtime.audit.append({ actor: 'system', action: 'oauth.register', outcome: 'ok', reason: `client ${record.client_id}` });
    return {
      client_id: record.client_id,
      client_id_issued_at: Math.floor(now / 1000),
      redirect_uris: record.redirect_uris,
      ...(record.client_name ? { client_name: record.client_name } : {}),
      ...(record.client_uri ? { client_uri: record.client_uri } : {}),
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    };
  }

  private checkRedirects(uris: string[], error: string): string[] {
    if (uris.length === 0 || uris.length > 10) throw new OAuthError(400, error, 'redirect_uris: give 1 to 10 URIs.');
    for (const uri of uris) {
      const problem = checkRedirectUri(uri);
      if (problem) throw new OAuthError(400, error, `redirect_uris: ${problem}`);
    }
    return uris;
  }

  private async client(clientId: string): Promise<OAuthClientRecord | undefined> {
    if (isClientMetadataUrl(clientId)) {
      if (!this.config.client_id_metadata_documents) return undefined;
      return this.documentClient(clientId);
    }
    return await this.store.client(clientId);
  }

  /**
   * A client named by a metadata document URL, from the cache or fetched (clients.ts checks the
   * address, the size and the document). Cached by URL, successes for the document's max-age
   * within 5 min..24 h, failures for 1 min, at most 200 entries: repeated authorize requests
   * naming a URL cost one fetch. The browser gets one generic error whatever went wrong (a
   * distinct text per cause would make the server an internal network scanner); the cause goes
   * to the operator's log.
   */
  private async documentClient(clientId: string): Promise<OAuthClientRecord> {
    const now = this.now();
    let entry = this.documents.get(clientId);
    if (!entry || entry.until <= now) {
      try {
        const { document, maxAgeS } = await fetchClientMetadataDocument(clientId, { allowLoopback: this.loopbackDocuments });
        this.checkRedirects(document.redirect_uris, 'invalid_client');
        const client: OAuthClientRecord = { client_id: clientId, ...(document.client_name ? { client_name: document.client_name.slice(0, 200) } : {}), ...(document.client_uri && document.client_uri.length <= MAX_CLIENT_URI && document.client_uri.startsWith('https://') ? { client_uri: document.client_uri } : {}), redirect_uris: document.redirect_uris, kind: 'metadata_document', registered_at: new Date(now).toISOString() };
        entry = { client, until: now + Math.min(Math.max((maxAgeS ?? 0) * 1000, DOCUMENT_MIN_CACHE_MS), DOCUMENT_MAX_CACHE_MS) };
      } catch (error) {
        const detail = error instanceof OAuthError ? error.description : String((error as Error)?.message ?? error);
        this.runtime.logger.warn({ client_id: clientId.slice(0, 300), problem: detail.slice(0, 300) }, 'client ID metadata document refused');
        entry = { until: now + DOCUMENT_FAILURE_CACHE_MS };
      }
    }
    this.documents.delete(clientId);
    this.documents.set(clientId, entry);
    while (this.documents.size > MAX_DOCUMENTS) this.documents.delete(this.documents.keys().next().value!);
    if (!entry.client) throw new OAuthError(400, 'invalid_client', DOCUMENT_REFUSED);
    return entry.client;
  }

  /**
   * The authorization endpoint's checks. Errors about the client or its redirect URI are shown
   * to the human and never redirected (an open redirector otherwise); the rest go back to the
   * client's redirect URI with `error` and `state`.
   * @returns the pending request's id (the consent page) or a redirect URL carrying an error.
   */
  async beginAuthorization(params: URLSearchParams, origin: string, address?: string): Promise<{ pending: PendingAuthorization } | { redirect: string }> {
    const single = (name: string): string | undefined => {
      const all = params.getAll(name);
      if (all.length > 1) throw new OAuthError(400, 'invalid_request', `${name} was given more than once.`);
      return all[0];
    };
    const clientId = single('client_id');
    if (!clientId) throw new OAuthError(400, 'invalid_request', 'client_id is required.');
    const client = await this.client(clientId);
    if (!client) throw new OAuthError(400, 'invalid_client', 'Unknown client_id. Register the client first (dynamic registration) or use a client ID metadata document URL.');
    const redirectUri = single('redirect_uri');
    // Security: exact string match against a registered URI, never a prefix or a pattern.
    if (!redirectUri || !client.redirect_uris.includes(redirectUri)) throw new OAuthError(400, 'invalid_request', 'redirect_uri is missing or is not exactly one of the client’s registered redirect URIs.');
    const state = single('state');
    // Security: anyone may register a client with any https redirect URI; redirecting errors to
    // one that no person ever allowed would make this origin an open redirector (RFC 9700 §4.11.2).
    // A client a person allowed once (its grant may since be revoked) has a redirect URI a person saw.
    // A metadata document is anyone's too (R-8): its errors go back only to its own origin.
    const trusted = (client.kind === 'metadata_document' && new URL(redirectUri).origin === new URL(client.client_id).origin) || (await this.store.clientHasGrant(client.client_id));
    const back = (error: string, description: string): { redirect: string } => {
      if (!trusted) throw new OAuthError(400, error, description);
      const url = new URL(redirectUri);
      url.searchParams.set('error', error);
      url.searchParams.set('error_description', description);
      if (state !== undefined) url.searchParams.set('state', state);
      url.searchParams.set('iss', this.issuerFor(origin));
      return { redirect: url.toString() };
    };
    if (single('response_type') !== 'code') return back('unsupported_response_type', 'Only response_type=code is supported.');
    const challenge = single('code_challenge');
    const method = single('code_challenge_method');
    if (!challenge) return back('invalid_request', 'PKCE is required: send code_challenge and code_challenge_method=S256.');
    // Security: an absent method means `plain` (RFC 7636 §4.3), which OAuth 2.1 servers may refuse and we do.
    if (method !== 'S256') return back('invalid_request', 'code_challenge_method must be S256 (plain is not accepted).');
    if (!CHALLENGE.test(challenge)) return back('invalid_request', 'code_challenge must be the base64url SHA-256 of the verifier (43 characters).');
    const resource = this.resourceFor(origin);
    const askedResource = single('resource');
    if (askedResource !== undefined && askedResource !== resource) return back('invalid_target', `This server issues tokens only for ${resource}.`);
    if (state !== undefined && state.length > 1000) return back('invalid_request', 'state is too long (at most 1000 characters).');
    await this.prune();
    const now = this.now();
    const id = randomBytes(24).toString('base64url');
    const record: OAuthPendingRecord = {
      client,
      redirectUri,
      ...(state !== undefined ? { state } : {}),
      codeChallenge: challenge,
      resource,
      issuer: this.issuerFor(origin),
      createdAt: now,
      expiresAt: now + PENDING_TTL_MS,
      ...(address ? { address: address.slice(0, 64) } : {}),
    };
    // Kept in the store, not in this process: the consent may be answered on another replica or after a restart.
    // At the cap the oldest waiting sign-in goes (R-6): a flood cannot refuse everyone else's.
    await this.store.addPending(id, record, MAX_PENDING);
    return { pending: pendingOf(id, record) };
  }

  /**
   * Keeps a dashboard sign-in through the identity provider (auth.oidc) until the provider's
   * callback, which may reach any replica; bounded as consent sign-ins are (TTL by the caller, cap here).
   */
  async addOidcPending(id: string, record: OidcPendingRecord): Promise<void> {
    await this.store.addOidcPending(id, record, MAX_PENDING);
  }

  /** Removes and returns a live sign-in through the identity provider: one callback, on any replica, gets it. */
  takeOidcPending(id: string): Promise<OidcPendingRecord | undefined> {
    return this.store.takeOidcPending(id, this.now());
  }

  /** A sign-in waiting for consent (any replica may have begun it), or undefined once expired or answered. */
  async pending(id: string): Promise<PendingAuthorization | undefined> {
    const record = await this.store.pending(id, this.now());
    return record ? pendingOf(id, record) : undefined;
  }

  /** Existing agents and templates a human may choose from at consent. */
  agentChoices(): { agents: { id: string; grants: string[]; description?: string }[]; templates: { name: string; grants: string[]; description?: string }[] } {
    return {
      agents: this.runtime.settings.agents.map((a) => ({ id: a.config.id, grants: a.config.grants, ...(a.config.description ? { description: a.config.description } : {}) })),
      templates: Object.entries(this.config.templates).map(([name, t]) => ({ name, grants: t.grants, ...(t.description ? { description: t.description } : {}) })),
    };
  }

  /**
   * The human's answer. Approve: a single-use code (60 s) bound to the client, redirect URI,
   * PKCE challenge, resource, agent and human. Refuse: `access_denied`. Either way the pending
   * request is spent.
   * @returns where the browser goes next (the client's redirect URI).
   */
  async decide(id: string, human: string, decision: { approve: true; agent: AgentChoice; /** For an OIDC person: the templates their groups give them. */ templates?: readonly string[] } | { approve: false }): Promise<string> {
    // Answered once: of two answers (two tabs, two replicas) only one takes it.
    const pending = await this.store.takePending(id, this.now());
    if (!pending) throw new OAuthError(400, 'invalid_request', 'This sign-in request has expired or was already answered. Start again from the app.');
    const url = new URL(pending.redirectUri);
    if (pending.state !== undefined) url.searchParams.set('state', pending.state);
    url.searchParams.set('iss', pending.issuer);
    const clientName = pending.client.client_name ?? pending.client.client_id;
    if (!decision.approve) {
      url.searchParams.set('error', 'access_denied');
      url.searchParams.set('error_description', 'The person refused access.');
      await this.runtime.audit.append({ actor: human, action: 'oauth.consent', outcome: 'denied', reason: `client ${pending.client.client_id.slice(0, 200)}` });
      return url.toString();
    }
    const agent = await this.resolveChoice(decision.agent, human, decision.templates);
    const code = randomBytes(32).toString('base64url');
    const codeRecord: OAuthCodeRecord = {
      clientId: pending.client.client_id,
      redirectUri: pending.redirectUri,
      codeChallenge: pending.codeChallenge,
      resource: pending.resource,
      issuer: pending.issuer,
      human,
      ...(this.adminKeyHash(human) ? { humanKeySha256: this.adminKeyHash(human)! } : {}),
      agentId: agent.id,
      ...(agent.template ? { template: agent.template } : {}),
      ...(agent.keySha256 ? { agentKeySha256: agent.keySha256 } : {}),
      scopes: agent.scopes,
      clientName: clientName.slice(0, 200),
      expiresAt: this.now() + CODE_TTL_MS,
    };
    await this.store.addCode(sha256(code), codeRecord);
    await this.runtime.audit.append({ actor: human, action: 'oauth.consent', outcome: 'ok', reason: `client ${pending.client.client_id.slice(0, 200)} as agent ${agent.id}${pending.address ? `, asked from ${pending.address}` : ''}` });
    url.searchParams.set('code', code);
    return url.toString();
  }

  private async resolveChoice(choice: AgentChoice, human: string, allowed?: readonly string[]): Promise<{ id: string; template?: string; keySha256?: string; scopes: string[] }> {
    if (isOidcHuman(human)) return this.resolveOidcChoice(choice, human, allowed ?? []);
    if (choice.kind === 'existing') {
      const agent = this.runtime.settings.agents.find((a) => a.config.id === choice.id);
      if (!agent) throw new OAuthError(400, 'invalid_request', 'No such agent.');
      return { id: agent.config.id, keySha256: agent.config.key_sha256, scopes: [...agent.config.grants] };
    }
    const template = Object.hasOwn(this.config.templates, choice.name) ? this.config.templates[choice.name] : undefined;
    if (!template) throw new OAuthError(400, 'invalid_request', 'No such agent template.');
    const id = personAgentId(choice.name, human);
    if (id.length > MAX_AGENT_ID) throw new OAuthError(400, 'invalid_request', `The per-person agent id ${id.slice(0, 70)}… would be longer than ${MAX_AGENT_ID} characters; choose an existing agent or ask an operator for a template with a shorter name.`);
    // Security: a per-person agent never takes over a configured agent's identity.
    if (this.runtime.settings.agents.some((a) => a.config.id === id)) throw new OAuthError(400, 'invalid_request', `An agent named ${id} already exists in the config; choose it directly or another template.`);
    // Security (R-5): two people (or one template and another) never share a per-person agent:
    // `admin:x` and `oidc:x`, or ids that read alike once made safe, would share approvals and limits.
    const other = (await this.store.listGrants()).find((g) => g.agent_id === id && (g.template !== choice.name || g.human !== human));
    if (other) throw new OAuthError(400, 'invalid_request', `The per-person agent id ${id} is already used by another person's sign-in; choose an existing agent or ask an operator for another template.`);
    return { id, template: choice.name, scopes: [...template.grants] };
  }

  /**
   * An OIDC person (auth.oidc) may act only as their own per-person agent, from a template one of
   * their groups gives them; never as a configured agent (that is an admin's choice).
   */
  private resolveOidcChoice(choice: AgentChoice, human: string, allowed: readonly string[]): { id: string; template: string; scopes: string[] } {
    const oidc = this.runtime.settings.config.auth.oidc;
    if (!oidc) throw new OAuthError(400, 'access_denied', 'Sign-in with the identity provider is off on this server.');
    if (choice.kind !== 'template') throw new OAuthError(400, 'access_denied', 'People signed in with the identity provider can act only as their own agent from a template.');
    const template = Object.hasOwn(this.config.templates, choice.name) ? this.config.templates[choice.name] : undefined;
    if (!template || !allowed.includes(choice.name) || !templateStillMapped(oidc, choice.name)) throw new OAuthError(400, 'access_denied', 'None of your groups gives you this template.');
    const id = oidcPersonAgentId(choice.name, human.slice('oidc:'.length).split(' ')[0]!);
    if (this.runtime.settings.agents.some((a) => a.config.id === id)) throw new OAuthError(400, 'invalid_request', `An agent named ${id} already exists in the config; ask an operator.`);
    return { id, template: choice.name, scopes: [...template.grants] };
  }

  /** The token endpoint: authorization_code and refresh_token grants, form-encoded. */
  async token(form: URLSearchParams, origin: string): Promise<TokenResponse> {
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') return this.exchangeCode(form, origin);
    if (grantType === 'refresh_token') return this.refresh(form, origin);
    throw new OAuthError(400, 'unsupported_grant_type', 'Only authorization_code and refresh_token are supported.');
  }

  private async exchangeCode(form: URLSearchParams, origin: string): Promise<TokenResponse> {
    const code = form.get('code') ?? '';
    const key = sha256(code);
    const record = await this.store.code(key, this.now());
    if (!record) throw new OAuthError(400, 'invalid_grant', 'The authorization code is unknown or expired.');
    if (record.grantId) return this.codeReused(record.grantId);
    if (form.get('client_id') !== record.clientId) throw new OAuthError(400, 'invalid_grant', 'The code was issued to another client.');
    if (form.get('redirect_uri') !== record.redirectUri) throw new OAuthError(400, 'invalid_grant', 'redirect_uri does not match the one of the authorization request.');
    const verifier = form.get('code_verifier');
    if (!verifier || !VERIFIER.test(verifier)) throw new OAuthError(400, 'invalid_grant', 'code_verifier is required (43-128 characters of A-Z a-z 0-9 - . _ ~).');
    const computed = createHash('sha256').update(verifier).digest('base64url');
    if (!sameText(computed, record.codeChallenge)) throw new OAuthError(400, 'invalid_grant', 'code_verifier does not match the code_challenge.');
    const resource = form.get('resource');
    if (resource !== null && resource !== record.resource) throw new OAuthError(400, 'invalid_target', `This code is for ${record.resource}.`);
    if (this.issuerFor(origin) !== record.issuer) throw new OAuthError(400, 'invalid_grant', 'The code was issued by another address of this server.');
    const refresh = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    const now = this.now();
    const grant: OAuthGrantRecord = {
      id: randomUUID(),
      client_id: record.clientId,
      client_name: record.clientName,
      redirect_host: new URL(record.redirectUri).host,
      agent_id: record.agentId,
      ...(record.template ? { template: record.template } : {}),
      ...(record.agentKeySha256 ? { agent_key_sha256: record.agentKeySha256 } : {}),
      human: record.human,
      ...(record.humanKeySha256 ? { human_key_sha256: record.humanKeySha256 } : {}),
      scopes: record.scopes,
      resource: record.resource,
      created_at: new Date(now).toISOString(),
      refresh_sha256: sha256(refresh),
      refresh_expires_at: new Date(now + this.refreshTtlMs).toISOString(),
      used_refresh_sha256: [],
    };
    // Marked used and the grant stored in one step: a redemption racing this one (any replica) sees the grant to revoke.
    const redeemed = await this.store.redeemCode(key, now, grant);
    if ('reusedGrantId' in redeemed) return this.codeReused(redeemed.reusedGrantId);
    if ('unknown' in redeemed) throw new OAuthError(400, 'invalid_grant', 'The authorization code is unknown or expired.');
    await this.prune();
    await this.runtime.audit.append({ actor: `agent:${grant.agent_id}`, action: 'oauth.token', outcome: 'ok', reason: `grant ${grant.id} for ${grant.human}` });
    return this.respond(grant, refresh, origin);
  }

  /** Security: a code presented twice was intercepted; the tokens issued from it stop working. */
  private async codeReused(grantId: string): Promise<never> {
    await this.revokeGrant(grantId, 'system', 'authorization code reused');
    throw new OAuthError(400, 'invalid_grant', 'The authorization code was already used; the grant made from it is revoked.');
  }

  private async refresh(form: URLSearchParams, origin: string): Promise<TokenResponse> {
    const presented = form.get('refresh_token') ?? '';
    const hash = sha256(presented);
    const clientId = form.get('client_id');
    // The grant is locked while it rotates (across replicas): one token rotates once, and the
    // second presentation of it finds it among the used ones.
    const outcome = await this.store.updateGrant({ refreshSha256: hash }, (grant): { grant: OAuthGrantRecord; refresh: string } | { reused: OAuthGrantRecord } | null => {
      if (grant.used_refresh_sha256.includes(hash)) {
        // Security: an old refresh token came back: it was copied. End the whole grant.
        if (!grant.revoked_at) {
          grant.revoked_at = new Date(this.now()).toISOString();
          grant.revoked_by = 'system: refresh token reused';
        }
        return { reused: grant };
      }
      if (grant.revoked_at || Date.parse(grant.refresh_expires_at) <= this.now() || grant.client_id !== clientId) return null;
      // Security: a removed or re-keyed admin's connectors end with their dashboard sessions.
      const gone = this.consenterGone(grant);
      if (gone) {
        grant.revoked_at = new Date(this.now()).toISOString();
        grant.revoked_by = `system: ${gone}`;
        return null;
      }
      const refresh = REFRESH_PREFIX + randomBytes(32).toString('base64url');
      grant.used_refresh_sha256 = [...grant.used_refresh_sha256, hash].slice(-MAX_USED_REFRESH);
      grant.refresh_sha256 = sha256(refresh);
      grant.refresh_expires_at = new Date(this.now() + this.refreshTtlMs).toISOString();
      return { grant, refresh };
    });
    if (outcome && 'reused' in outcome) {
      await this.runtime.audit.append({ actor: `agent:${outcome.reused.agent_id}`, action: 'oauth.refresh', outcome: 'denied', reason: `refresh token reused: grant ${outcome.reused.id} revoked` });
      throw new OAuthError(400, 'invalid_grant', 'This refresh token was already used; the grant is revoked. Sign in again.');
    }
    if (!outcome) throw new OAuthError(400, 'invalid_grant', 'The refresh token is unknown, expired, revoked, or belongs to another client.');
    const resource = form.get('resource');
    if (resource !== null && resource !== outcome.grant.resource) throw new OAuthError(400, 'invalid_target', `This grant is for ${outcome.grant.resource}.`);
    if (this.resourceFor(origin) !== outcome.grant.resource) throw new OAuthError(400, 'invalid_target', 'The grant was made for another address of this server.');
    return this.respond(outcome.grant, outcome.refresh, origin);
  }

  private async respond(grant: OAuthGrantRecord, refresh: string, origin: string): Promise<TokenResponse> {
    const now = this.now();
    const scope = grant.scopes.join(' ');
    const access = await new SignJWT({ scope, grant_id: grant.id, client_id: grant.client_id, act: { sub: grant.human } })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setIssuer(this.issuerFor(origin))
      .setAudience(grant.resource)
      .setSubject(grant.agent_id)
      .setJti(randomUUID())
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(Math.floor((now + this.accessTtlMs) / 1000))
      .sign(this.key);
    return { access_token: access, token_type: 'Bearer', expires_in: Math.floor(this.accessTtlMs / 1000), refresh_token: refresh, scope };
  }

  /**
   * Keeps the store from piling up (at most once a minute per process): grants dropped a day
   * after they ended, pending sign-ins and codes a code's lifetime after they expired, dynamic
   * registrations that got no grant within a day.
   */
  private async prune(): Promise<void> {
    const now = this.now();
    if (now - this.lastPrune < PRUNE_EVERY_MS) return;
    this.lastPrune = now;
    await this.store.prune({ grantsEndedBefore: now - 86_400_000, expiredBefore: now - CODE_TTL_MS, clientsUnusedBefore: now - UNUSED_CLIENT_TTL_MS });
  }

  /** RFC 7009: a refresh token (or an access token) ends its grant. Unknown tokens are not an error. */
  async revokeToken(form: URLSearchParams): Promise<void> {
    const token = form.get('token') ?? '';
    let grantId: string | undefined;
    if (token.startsWith(REFRESH_PREFIX)) {
      const hash = sha256(token);
      // Only the live refresh token names its grant here (a used one is not a credential any more).
      grantId = await this.store.updateGrant({ refreshSha256: hash }, (g) => (g.refresh_sha256 === hash ? g.id : undefined));
    } else {
      try {
        const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], typ: 'at+jwt', currentDate: this.runtime.clock() });
        grantId = typeof payload.grant_id === 'string' ? payload.grant_id : undefined;
      } catch {
        grantId = undefined;
      }
    }
    if (grantId) await this.revokeGrant(grantId, 'client', 'revoked by the client');
  }

  /**
   * The protected resource's check, on every MCP request: signature (HS256 only), type,
   * issuer, audience (this server's MCP URL), expiry, then the grant (revoked, agent gone or
   * its key replaced) from the store, so a revocation holds from the next request.
   * @throws OAuthError 401 invalid_token.
   */
  async authenticate(token: string, origin: string): Promise<OAuthPrincipal> {
    this.runtime.live.refresh();
    const resource = this.resourceFor(origin);
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.key, { issuer: this.issuerFor(origin), audience: resource, algorithms: ['HS256'], typ: 'at+jwt', currentDate: this.runtime.clock() }));
    } catch (error) {
      const expired = error instanceof joseErrors.JWTExpired;
      throw new OAuthError(401, 'invalid_token', expired ? 'The access token has expired; refresh it.' : 'The access token is not valid for this server (signature, type, issuer or audience).');
    }
    const grant = typeof payload.grant_id === 'string' ? await this.store.grant(payload.grant_id) : undefined;
    if (!grant || grant.agent_id !== payload.sub || grant.resource !== resource) throw new OAuthError(401, 'invalid_token', 'The access token’s grant is not known to this server.');
    if (grant.revoked_at) throw new OAuthError(401, 'invalid_token', 'The grant behind this access token was revoked. Sign in again.');
    return { agent: this.agentFor(grant), grant };
  }

  /**
   * The agent a running session acts as at this tool call (H8-1): the grant re-resolved against
   * the config in force now, never the configured agent as a whole — the consented subset and
   * `onBehalfOf` stay, a template agent keeps working, and a removed agent, template or admin
   * ends the session. The grant's revocation is checked by `authenticate` on every HTTP request.
   * @throws AssError UNAUTHENTICATED.
   */
  currentAgent(grant: OAuthGrantRecord): AgentSettings {
    this.runtime.live.refresh();
    try {
      return this.agentFor(grant);
    } catch (error) {
      if (error instanceof OAuthError) throw new AssError('UNAUTHENTICATED', error.description);
      throw error;
    }
  }

  private adminKeyHash(human: string): string | undefined {
    if (isOidcHuman(human)) {
      const oidc = this.runtime.settings.config.auth.oidc;
      return oidc ? oidcIssuerHash(oidc.issuer) : undefined;
    }
    const id = human.startsWith('admin:') ? human.slice('admin:'.length) : undefined;
    return this.runtime.settings.config.admins.find((a) => a.id === id)?.key_sha256;
  }

  /** Why the person who consented no longer may (removed from `admins`, or given a new key), or undefined. */
  private consenterGone(grant: OAuthGrantRecord): string | undefined {
    if (isOidcHuman(grant.human)) {
      const oidc = this.runtime.settings.config.auth.oidc;
      if (!oidc) return 'sign-in with the identity provider is off';
      if (grant.human_key_sha256 !== oidcIssuerHash(oidc.issuer)) return 'the identity provider changed';
      if (!grant.template || !templateStillMapped(oidc, grant.template)) return 'no group gives this template any more';
      return undefined;
    }
    const now = this.adminKeyHash(grant.human);
    if (!now) return `${grant.human} is no longer an admin`;
    if (grant.human_key_sha256 && grant.human_key_sha256 !== now) return `${grant.human} has a new key since the consent`;
    return undefined;
  }

  /** The agent a grant acts as, limited to what the human consented to. */
  private agentFor(grant: OAuthGrantRecord): AgentSettings {
    const gone = this.consenterGone(grant);
    if (gone) throw new OAuthError(401, 'invalid_token', `The person who signed this connector in can no longer (${gone}). Sign in again.`);
    if (grant.template) {
      const template = this.config.templates[grant.template];
      if (!template) throw new OAuthError(401, 'invalid_token', 'The agent template of this grant was removed from the config. Sign in again.');
      // Security: a configured agent added later under this id must not share its approvals, tokens and limits.
      if (this.runtime.settings.agents.some((a) => a.config.id === grant.agent_id)) throw new OAuthError(401, 'invalid_token', `A configured agent now has this sign-in's agent id (${grant.agent_id}). Sign in again.`);
      const grants = grant.scopes.filter((s) => template.grants.includes(s));
      const config = { id: grant.agent_id, key_sha256: sha256(`oauth-grant:${grant.id}`), grants, deny: template.deny, limits: { max_token_ttl: this.config.access_token_ttl }, description: `per-person agent of ${grant.human}` };
      return { config, compiled: compileAgent({ id: config.id, grants, deny: config.deny }), maxTokenTtlMs: this.accessTtlMs, onBehalfOf: grant.human, oauthGrant: { id: grant.id, endsAtMs: Date.parse(grant.refresh_expires_at) } };
    }
    const agent = this.runtime.settings.agents.find((a) => a.config.id === grant.agent_id);
    if (!agent) throw new OAuthError(401, 'invalid_token', 'The agent of this grant no longer exists. Sign in again.');
    // Security: replacing or revoking an agent's key ends the grants made for it too.
    if (grant.agent_key_sha256 && grant.agent_key_sha256 !== agent.config.key_sha256) throw new OAuthError(401, 'invalid_token', 'The agent of this grant has a new key since the consent. Sign in again.');
    // Security: never more than consented (even if the agent's grants grew since), and never more
    // than the agent holds now: a consented scope stays while one of the agent's grants covers it.
    const held = agent.config.grants.map((g) => parseScope(g));
    const grants = grant.scopes.filter((s) => held.some((g) => scopeCovers(g, parseScope(s))));
    const config = { ...agent.config, grants };
    return { ...agent, config, compiled: compileAgent({ id: config.id, grants, deny: config.deny }), onBehalfOf: grant.human, oauthGrant: { id: grant.id, endsAtMs: Date.parse(grant.refresh_expires_at) } };
  }

  /**
   * The agent behind a scoped token asked for under an OAuth grant (H13-3): the grant must still
   * hold (not revoked, not expired, its person still an admin), and the token acts as the grant
   * does (consented subset, on_behalf_of in every audit record).
   * @throws AssError UNAUTHENTICATED.
   */
  async tokenAgent(grantId: string): Promise<AgentSettings> {
    const grant = await this.store.grant(grantId);
    if (!grant || grant.revoked_at || Date.parse(grant.refresh_expires_at) <= this.now()) {
      throw new AssError('UNAUTHENTICATED', 'The sign-in this token was asked under has ended (revoked or expired). Sign in again and call request_token.');
    }
    return this.currentAgent(grant);
  }

  async listGrants(): Promise<OAuthGrantRecord[]> {
    return (await this.store.listGrants()).sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  /** Ends a grant: its access and refresh tokens fail from the next request. */
  async revokeGrant(id: string, by: string, why = 'revoked by a human'): Promise<boolean> {
    const revoked = await this.store.updateGrant({ id }, (grant) => {
      if (grant.revoked_at) return false;
      grant.revoked_at = new Date(this.now()).toISOString();
      grant.revoked_by = `${by}: ${why}`;
      return true;
    });
    if (revoked) await this.runtime.audit.append({ actor: by.includes(':') ? by : 'system', action: 'oauth.revoke', outcome: 'ok', reason: `grant ${id}: ${why}` });
    return revoked === true;
  }
}
