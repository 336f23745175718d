import NodeVault from 'node-vault';
import { AssError } from '../../shared/errors.js';
import type { VaultAuthConfig, VaultBackendConfig } from './config.js';
import { toAssError } from './errors.js';

/**
 * The thin seam between the adapter and node-vault: the four generic calls plus the token.
 * Tests (or another Vault library) can pass anything of this shape. node-vault resolves with
 * the parsed JSON body and rejects with an error carrying `response.statusCode`.
 */
export interface VaultClient {
  token: string;
  read(path: string): Promise<unknown>;
  write(path: string, data: unknown): Promise<unknown>;
  list(path: string): Promise<unknown>;
  delete(path: string): Promise<unknown>;
}

/** Builds a node-vault client from a parsed config; credentials come from `env`. */
export function createNodeVaultClient(config: VaultBackendConfig): VaultClient {
  const options = {
    endpoint: config.address,
    // Security: node-vault falls back to VAULT_TOKEN / VAULT_NAMESPACE / VAULT_PREFIX /
    // VAULT_SKIP_VERIFY from the process environment. Everything is set explicitly below so the
    // proxy talks only to what its config names, with TLS verification on.
    token: '',
    namespace: config.namespace ?? '',
    pathPrefix: '',
    noCustomHTTPVerbs: true,
    rpDefaults: { strictSSL: true, timeout: config.request_timeout_ms },
    requestOptions: { timeout: config.request_timeout_ms },
  };
  const client = NodeVault(options as NodeVault.VaultOptions) as NodeVault.client & { namespace?: string; pathPrefix?: string };
  client.token = '';
  client.pathPrefix = '';
  client.namespace = config.namespace ?? '';
  return client;
}

interface AuthBlock {
  client_token?: unknown;
  lease_duration?: unknown;
  renewable?: unknown;
}

/**
 * Keeps the proxy's own Vault token valid: reads it from the environment (token auth) or logs in
 * with AppRole, then renews it at half its TTL while it is renewable, and logs in again (AppRole)
 * when renewal is refused. The timer is `unref`'d and cleared on `close()`.
 */
export class VaultSession {
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> | undefined;
  private started = false;
  private closed = false;

  constructor(
    private readonly client: VaultClient,
    private readonly auth: VaultAuthConfig,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** True when a refused request may be retried after a fresh login. */
  get canRelogin(): boolean {
    return this.auth.method === 'approle';
  }

  /** Logs in (once, lazily) before the first request; a failed start is retried on the next call. */
  async ready(): Promise<void> {
    if (this.closed) throw new AssError('BACKEND_UNAVAILABLE', 'The Vault backend is closed.', { backend: 'vault' });
    if (this.started) return;
    this.pending ??= this.start().finally(() => {
      this.pending = undefined;
    });
    await this.pending;
  }

  async relogin(): Promise<void> {
    this.started = false;
    await this.ready();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async start(): Promise<void> {
    let ttl: number;
    let renewable: boolean;
    if (this.auth.method === 'token') {
      const token = this.env[this.auth.token_env];
      if (!token) throw missingEnv(this.auth.token_env);
      this.client.token = token;
      // The default policy lets a token look itself up; a token that cannot is still used.
      const self = await this.client.read('auth/token/lookup-self').catch(() => undefined);
      const data = (self as { data?: { ttl?: unknown; renewable?: unknown } } | undefined)?.data;
      ttl = typeof data?.ttl === 'number' ? data.ttl : 0;
      renewable = data?.renewable === true;
    } else {
      const auth = await this.login();
      ttl = typeof auth.lease_duration === 'number' ? auth.lease_duration : 0;
      renewable = auth.renewable === true;
    }
    this.started = true;
    this.schedule(ttl, renewable);
  }

  private async login(): Promise<AuthBlock> {
    if (this.auth.method !== 'approle') throw new AssError('INTERNAL', 'login needs AppRole auth');
    const roleId = this.auth.role_id ?? (this.auth.role_id_env ? this.env[this.auth.role_id_env] : undefined);
    if (!roleId) throw missingEnv(this.auth.role_id_env ?? 'role_id');
    const secretId = this.env[this.auth.secret_id_env];
    if (!secretId) throw missingEnv(this.auth.secret_id_env);
    this.client.token = '';
    let response: unknown;
    try {
      response = await this.client.write(`auth/${this.auth.mount}/login`, { role_id: roleId, secret_id: secretId });
    } catch (error) {
      const mapped = toAssError(error, 'AppRole login');
      // A refused login (Vault answers 400 for a wrong role_id/secret_id) is the operator's
      // problem, never the agent's argument.
      if (mapped.code !== 'INVALID_ARGUMENT') throw mapped;
      throw new AssError('BACKEND_UNAVAILABLE', "Vault refused the proxy's AppRole login: an operator must check its role_id and secret_id.", {
        backend: 'vault',
        status: 400,
      });
    }
    const auth = (response as { auth?: AuthBlock } | undefined)?.auth;
    if (typeof auth?.client_token !== 'string') {
      throw new AssError('BACKEND_UNAVAILABLE', 'Vault AppRole login returned no token.', { backend: 'vault' });
    }
    this.client.token = auth.client_token;
    return auth;
  }

  /** Renew (or log in again) at half the TTL. A TTL of 0 (e.g. a root token) never expires. */
  private schedule(ttlSeconds: number, renewable: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || ttlSeconds <= 0) return;
    if (!renewable && this.auth.method !== 'approle') return;
    const delayMs = Math.max(1_000, Math.floor((ttlSeconds * 1_000) / 2));
    this.timer = setTimeout(() => void this.refresh(renewable), delayMs);
    this.timer.unref();
  }

  private async refresh(renewable: boolean): Promise<void> {
    if (this.closed) return;
    try {
      if (renewable) {
        const response = await this.client.write('auth/token/renew-self', {});
        const auth = (response as { auth?: AuthBlock } | undefined)?.auth;
        const ttl = typeof auth?.lease_duration === 'number' ? auth.lease_duration : 0;
        // Renewal granted less than asked (max TTL reached): log in again next time if we can.
        if (ttl > 0) return this.schedule(ttl, auth?.renewable === true);
      }
      if (this.auth.method === 'approle') {
        const auth = await this.login();
        this.schedule(typeof auth.lease_duration === 'number' ? auth.lease_duration : 0, auth.renewable === true);
      }
    } catch {
      // The next request logs in again (AppRole) or reports BACKEND_UNAVAILABLE (token).
      this.started = false;
    }
  }
}

function missingEnv(name: string): AssError {
  return new AssError('CONFIG_INVALID', `The Vault backend needs the environment variable ${name}; it is not set.`, { backend: 'vault' });
}
