import { isAssError } from '../shared/errors.js';
import type { SecretRecord, SecretSummary, SecretWrite } from '../shared/types.js';
import type { BackendCapabilities, BackendHealth, DeleteOptions, PutOptions, SecretBackend } from './backend.js';

/** What a backend offers before it is open: nothing is promised (nobody reads it before a call). */
const UNKNOWN_CAPABILITIES: BackendCapabilities = { versioning: false, checkAndSet: false, softDelete: false };

/**
 * A remote backend (Vault, AWS, a remote agent-secret-store) opened on first use instead of
 * before the server answers `initialize`: loading its vendor client and, for Vault, logging in
 * and asking the KV version, is start-up time an MCP client waits for and most sessions' first
 * call does not. The stdio server's first backend health check (backend-watch.ts, just after the
 * transport is up) is that first use, so a broken backend is still said on stderr at once, and
 * every call that needs it fails with the opening's own error (clear, scrubbed: an AssError).
 *
 * A failure the error calls retryable (Vault unreachable, sealed) is tried again by the next use
 * (the recheck timer, or an agent's call); any other (bad credentials config, a wrong key) is
 * kept and answered to every use, so it is not retried on every call. One opening at a time.
 */
export class DeferredBackend implements SecretBackend {
  private opening: Promise<SecretBackend> | null = null;
  private backend: SecretBackend | null = null;
  private closed = false;
  private readonly openedListeners: ((backend: SecretBackend) => void)[] = [];

  constructor(
    readonly kind: string,
    private readonly open: () => Promise<SecretBackend>,
  ) {}

  get capabilities(): BackendCapabilities {
    return this.backend?.capabilities ?? UNKNOWN_CAPABILITIES;
  }

  /** The open backend, or null before it opened (read-cache helpers look through this). */
  get opened(): SecretBackend | null {
    return this.backend;
  }

  /** Runs `listener` with the backend once it is open (at once if it is). */
  onOpened(listener: (backend: SecretBackend) => void): void {
    if (this.backend) listener(this.backend);
    else this.openedListeners.push(listener);
  }

  private ready(): Promise<SecretBackend> {
    if (this.backend) return Promise.resolve(this.backend);
    if (this.closed) return Promise.reject(new Error('the backend was closed'));
    if (!this.opening) {
      const attempt = this.open().then(
        (backend) => {
          this.backend = backend;
          for (const listener of this.openedListeners.splice(0)) listener(backend);
          return backend;
        },
        (error: unknown) => {
          // Retryable: let the next use try again. Otherwise every use gets this same error.
          if (isAssError(error) && error.retryable) this.opening = null;
          throw error;
        },
      );
      this.opening = attempt;
    }
    return this.opening;
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    return (await this.ready()).get(namespace, key);
  }

  async put(write: SecretWrite, options?: PutOptions): Promise<SecretSummary> {
    return (await this.ready()).put(write, options);
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    return (await this.ready()).list(namespace);
  }

  async listNamespaces(): Promise<string[]> {
    return (await this.ready()).listNamespaces();
  }

  async delete(namespace: string, key: string, options?: DeleteOptions): Promise<boolean> {
    return (await this.ready()).delete(namespace, key, options);
  }

  /** Not usable while it cannot be opened, with the opening's message (an AssError's is safe to show). */
  async health(): Promise<BackendHealth> {
    let backend: SecretBackend;
    try {
      backend = await this.ready();
    } catch (error) {
      return isAssError(error) ? { ok: false, detail: `${error.message} [${error.code}]`, code: error.code } : { ok: false, detail: `it could not be opened (${(error as Error)?.name ?? 'error'}).`, code: 'INTERNAL' };
    }
    return backend.health();
  }

  async close(): Promise<void> {
    this.closed = true;
    const backend = this.backend ?? (await this.opening?.catch(() => null)) ?? null;
    await backend?.close();
  }
}
