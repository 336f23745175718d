/**
 * The start-up check of a remote backend's reachability and credentials (Vault: sys/health and
 * `auth/token/lookup-self`; AWS: one `ListSecrets` with MaxResults 1), through the backend's own
 * `health()`. It runs after the server is up (it never delays `initialize`) and never stops
 * it: a backend that refuses the proxy's token is said on stderr at once, in the backend's own
 * scrubbed words (never the token), instead of on the first agent call; the server keeps
 * serving (calls that need the backend fail with BACKEND_UNAVAILABLE) and checks again every
 * `interval` until the backend answers, then says so once.
 *
 * The embedded file backend is not checked here: it is verified when it opens.
 */
import type { SecretBackend } from '../adapters/backend.js';

export interface BackendWatch {
  /** Resolves after the first check (tests and `doctor` wait on it). */
  readonly firstCheck: Promise<boolean>;
  stop(): void;
}

export interface BackendWatchOptions {
  /** Where the lines go (stderr in the server). */
  write: (line: string) => void;
  /** Between checks while the backend is not usable. */
  intervalMs: number;
}

export function watchBackend(backend: SecretBackend, options: BackendWatchOptions): BackendWatch {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let warned = false;
  const name = backend.kind === 'aws' ? 'AWS Secrets Manager' : backend.kind === 'vault' ? 'Vault' : `the ${backend.kind} backend`;

  async function check(): Promise<boolean> {
    if (stopped) return true;
    const health = await backend.health().catch((error: unknown) => ({ ok: false, detail: `health check failed (${(error as Error)?.name ?? 'error'})` }));
    if (stopped) return health.ok;
    if (health.ok) {
      if (warned) options.write(`agent-secret-store: ${name} is usable again: ${health.detail}\n`);
      return true;
    }
    if (!warned) {
      options.write(
        `agent-secret-store: warning: ${name} is not usable: ${health.detail} ` +
          `The server keeps serving; calls that need ${name} fail with ${('code' in health && health.code) || 'BACKEND_UNAVAILABLE'} until it is fixed. ` +
          `Checking again every ${Math.round(options.intervalMs / 1000)} s. (\`agent-secret-store doctor\` checks the whole setup.)\n`,
      );
      warned = true;
    }
    timer = setTimeout(() => void check(), options.intervalMs);
    // Never keeps the process alive on its own.
    timer.unref();
    return false;
  }

  const firstCheck = backend.kind === 'file' ? Promise.resolve(true) : check();
  return {
    firstCheck,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
