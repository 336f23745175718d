import { readFile } from 'node:fs/promises';
import type { BackendCapabilities, BackendHealth, DeleteOptions, PutOptions, SecretBackend } from '../backend.js';
import { AssError } from '../../shared/errors.js';
import { MAX_VALUE_BYTES, type AccessTier, type SecretMetadata, type SecretRecord, type SecretSummary, type SecretType, type SecretWrite } from '../../shared/types.js';
import { AssBackendConfigSchema, type AssBackendConfig } from './config.js';
import { RemoteClient, remoteCode, type RemoteResponse } from './http-client.js';

/** The remote's error message (its own words, only ever matched, never passed on). */
const remoteMessage = (res: RemoteResponse): string => String((res.body.error as { message?: unknown } | undefined)?.message ?? '');

/** A token is renewed when less than this share of its life (and at least 30 s) is left. */
const REFRESH_SHARE = 0.2;

interface CachedToken {
  token: string;
  issuedAt: number;
  expiresAt: number;
}

/**
 * `/v1/secrets/<namespace>/<key>` in the hosted product's dialect: the whole namespace one
 * encoded segment (`production%2Fgemini`), as its own MCP server sends it; our server takes it too.
 */
const secretPath = (namespace: string, key: string): string => `/v1/secrets/${encodeURIComponent(namespace)}/${encodeURIComponent(key)}`;

/**
 * The `ass` backend: a client of another agent-secret-store's REST API or of the hosted service,
 * in the hosted product's dialect (what its own SDK and MCP server send): the namespace as one
 * encoded path segment, `secrets:read:<ns>/*` to list, `namespaces:read` to list namespaces,
 * approval answered at token time (`requires_approval` + `approval_id`), errors by code
 * (`SCOPE_DENIED`, `SECRET_NOT_FOUND`, …).
 *
 * It authenticates as its own agent on the remote, with the key from `agent_key_env`, which it
 * exchanges for scoped, short-lived tokens and renews before they expire. It never sees, and so
 * never forwards, the key or token of the agent calling the local server (no token passthrough):
 * the SecretBackend interface carries none. An approval the remote asks for surfaces as
 * APPROVAL_REQUIRED with the remote approval id. Remote policy applies on top of local policy.
 */
export class AssBackend implements SecretBackend {
  readonly kind = 'ass';
  /**
   * Versions are the remote's; check-and-set goes through the REST write's `expected_version`
   * (as atomic as the remote's own backend; a remote too old to know the field gets plain writes).
   */
  readonly capabilities: BackendCapabilities = { versioning: true, checkAndSet: true, softDelete: false };
  private readonly tokens = new Map<string, CachedToken>();
  /** False once the remote has refused `expected_version` (a version from before it). */
  private remoteChecksVersions = true;
  private readonly inflight = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly client: RemoteClient,
    private readonly agentKey: string,
    private readonly adminKey: string | undefined,
    private readonly config: { scopes?: string[]; tokenTtl: string; remoteName: string },
    private readonly now: () => number = Date.now,
  ) {}

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    const res = await this.withToken(`secrets:read:${namespace}/${key}`, (t) => this.client.call('GET', secretPath(namespace, key), t));
    if (res.status === 404 && remoteCode(res) === 'SECRET_NOT_FOUND') return null;
    this.check(res, 'read');
    const b = res.body;
    return {
      namespace, key,
      value: String(b.value),
      version: Number(b.version),
      secret_type: b.secret_type as SecretType,
      access_tier: (b.access_tier as AccessTier | undefined) ?? null,
      metadata: (b.metadata as SecretMetadata | undefined) ?? {},
      id: String(b.id ?? `${namespace}/${key}`),
      created_at: String(b.created_at ?? ''),
      updated_at: String(b.updated_at ?? b.created_at ?? ''),
    };
  }

  async put(write: SecretWrite, options: PutOptions = {}): Promise<SecretSummary> {
    if (Buffer.byteLength(write.value, 'utf8') > MAX_VALUE_BYTES) {
      throw new AssError('VALUE_TOO_LARGE', `The value is ${Buffer.byteLength(write.value, 'utf8')} bytes; the limit is ${MAX_VALUE_BYTES} bytes on every backend.`);
    }
    const { namespace, key } = write;
    const send = (checkAndSet: boolean) => {
      const body = {
        value: write.value, secret_type: write.secret_type, access_tier: write.access_tier, metadata: write.metadata,
        ...(checkAndSet && options.expectedVersion !== undefined ? { expected_version: options.expectedVersion } : {}),
      };
      return this.withToken(`secrets:write:${namespace}/${key}`, (t) => this.client.call('PUT', secretPath(namespace, key), t, body));
    };
    let res = await send(this.remoteChecksVersions);
    if (res.status === 400 && this.remoteChecksVersions && options.expectedVersion !== undefined && /expected_version/.test(remoteMessage(res))) {
      // A remote from before expected_version refuses the field (a 400 writes nothing). Write
      // as such remotes always took writes, without check-and-set, and stop sending it.
      this.remoteChecksVersions = false;
      res = await send(false);
    }
    this.check(res, 'write');
    const b = res.body;
    return {
      namespace, key,
      version: Number(b.version),
      secret_type: b.secret_type as SecretType,
      access_tier: b.access_tier as AccessTier,
      metadata: write.metadata,
      id: String(b.id),
      created_at: String(b.created_at),
      updated_at: String(b.updated_at ?? b.created_at),
    };
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    const res = await this.withToken(`secrets:read:${namespace}/*`, (t) => this.client.call('GET', `/v1/secrets/${encodeURIComponent(namespace)}`, t));
    this.check(res, 'list');
    const items = (res.body.items as Array<Record<string, unknown>> | undefined) ?? [];
    return items
      .map((i) => ({
        namespace: String(i.namespace), key: String(i.key), version: Number(i.version),
        secret_type: i.secret_type as SecretType, access_tier: (i.access_tier as AccessTier | undefined) ?? null,
        metadata: (i.metadata as SecretMetadata | undefined) ?? {}, id: String(i.id ?? `${i.namespace}/${i.key}`),
        created_at: String(i.created_at), updated_at: String(i.updated_at),
      }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async listNamespaces(): Promise<string[]> {
    const res = await this.withToken('namespaces:read', (t) => this.client.call('GET', '/v1/namespaces', t));
    this.check(res, 'list namespaces');
    return [...new Set((res.body.namespaces as string[] | undefined) ?? [])].sort();
  }

  async delete(namespace: string, key: string, options?: DeleteOptions): Promise<boolean> {
    if (!this.adminKey) {
      throw new AssError('HUMAN_AUTH_REQUIRED', `Deleting on the remote store (${this.config.remoteName}) needs its admin key: set backend.admin_key_env, or delete it there.`);
    }
    const res = await this.client.call('DELETE', `${secretPath(namespace, key)}${options?.force ? '?force=true' : ''}`, this.adminKey);
    if (res.status === 404 && remoteCode(res) === 'SECRET_NOT_FOUND') return false;
    this.check(res, 'delete');
    return true;
  }

  async health(): Promise<BackendHealth> {
    try {
      const res = await this.client.call('GET', '/healthz', '');
      return { ok: res.status === 200, detail: `remote ${this.config.remoteName}: HTTP ${res.status}` };
    } catch {
      return { ok: false, detail: `remote ${this.config.remoteName}: unreachable` };
    }
  }

  async close(): Promise<void> {
    this.client.close();
  }

  // ---- tokens ----

  /** Runs `fn` with a token covering `scope`; a token the remote refuses (expired, revoked) is renewed once. */
  private async withToken(scope: string, fn: (token: string) => Promise<RemoteResponse>): Promise<RemoteResponse> {
    const scopes = this.config.scopes ?? [scope];
    const cacheKey = scopes.join(' ');
    const first = await this.token(cacheKey, scopes);
    const res = await fn(first.token);
    if (res.status !== 401) return res;
    this.tokens.delete(cacheKey);
    return fn((await this.token(cacheKey, scopes)).token);
  }

  private async token(cacheKey: string, scopes: string[]): Promise<CachedToken> {
    const cached = this.tokens.get(cacheKey);
    const t = this.now();
    if (cached && cached.expiresAt - t > Math.max(30_000, (cached.expiresAt - cached.issuedAt) * REFRESH_SHARE)) return cached;
    // Concurrent callers share one exchange.
    const running = this.inflight.get(cacheKey);
    if (running) return running;
    const exchange = this.exchange(scopes).finally(() => this.inflight.delete(cacheKey));
    this.inflight.set(cacheKey, exchange);
    const fresh = await exchange;
    this.tokens.set(cacheKey, fresh);
    return fresh;
  }

  /** POST /v1/tokens with this adapter's own agent key. */
  private async exchange(scopes: string[]): Promise<CachedToken> {
    const issuedAt = this.now();
    const res = await this.client.call('POST', '/v1/tokens', this.agentKey, { scopes, ttl: this.config.tokenTtl });
    // The hosted service may answer 200 or 202; `requires_approval` is what decides.
    if (res.status < 300 && res.body.requires_approval === true && typeof res.body.approval_id === 'string') throw this.approvalRequired(res.body.approval_id);
    this.check(res, 'token exchange');
    const expiresAt = Date.parse(String(res.body.expires_at));
    return { token: String(res.body.token), issuedAt, expiresAt: Number.isFinite(expiresAt) ? expiresAt : issuedAt + 60_000 };
  }

  private approvalRequired(approvalId: string): AssError {
    return new AssError(
      'APPROVAL_REQUIRED',
      `Human approval required on the remote store (${this.config.remoteName}). Approval ID: ${approvalId}. ` +
        'A human approves it there (`agent-secret-store approvals approve <id>` against that store, or its dashboard); then retry.',
      { approval_id: approvalId, remote: true },
    );
  }

  /** Maps a non-2xx answer to our error, by the remote's code; never the remote's own text. */
  private check(res: RemoteResponse, what: string): void {
    if (res.status >= 200 && res.status < 300) return;
    const code = remoteCode(res);
    const approvalId = (res.body.error as { approval_id?: unknown } | undefined)?.approval_id;
    if (code === 'APPROVAL_REQUIRED' && typeof approvalId === 'string') throw this.approvalRequired(approvalId);
    const hint: Partial<Record<string, string>> = {
      POLICY_DENIED: "the remote store's policy denies this adapter's agent; a human there can change its grants",
      UNAUTHENTICATED: 'the remote store refused this adapter\'s agent key; check backend.agent_key_env',
      VALUE_TOO_LARGE: `values are limited to ${MAX_VALUE_BYTES} bytes`,
      RATE_LIMITED: 'the remote store is rate limiting this adapter; retry later',
    };
    throw new AssError(code, `The remote secret store (${this.config.remoteName}) refused the ${what}: ${code}${hint[code] ? `; ${hint[code]}` : ''}.`);
  }
}

/** Validates the block, reads the keys from the environment and the CA file; connects nothing. */
export async function createAssBackend(config: AssBackendConfig, env: Record<string, string | undefined> = process.env): Promise<AssBackend> {
  const c = AssBackendConfigSchema.parse(config);
  const agentKey = env[c.agent_key_env];
  if (!agentKey) throw new AssError('CONFIG_INVALID', `backend.agent_key_env names ${c.agent_key_env}, which is not set: put the remote agent key there.`);
  const adminKey = c.admin_key_env ? env[c.admin_key_env] : undefined;
  if (c.admin_key_env && !adminKey) throw new AssError('CONFIG_INVALID', `backend.admin_key_env names ${c.admin_key_env}, which is not set.`);
  const ca = c.ca_file ? await readFile(c.ca_file) : undefined;
  const url = new URL(c.url);
  const client = new RemoteClient({ baseUrl: c.url, timeoutMs: c.timeout_ms, retries: c.retries, ...(ca ? { ca } : {}) });
  return new AssBackend(client, agentKey, adminKey, { ...(c.scopes ? { scopes: c.scopes } : {}), tokenTtl: c.token_ttl, remoteName: url.host });
}
