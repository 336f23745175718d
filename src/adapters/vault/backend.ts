import type { BackendCapabilities, BackendHealth, DeleteOptions, PutOptions, SecretBackend } from '../backend.js';
import { AssError, isAssError } from '../../shared/errors.js';
import { MAX_VALUE_BYTES, type SecretRecord, type SecretSummary, type SecretWrite } from '../../shared/types.js';
import type { VaultClient, VaultSession } from './client.js';
import { asRecord, type KvEngine } from './engine.js';
import { isPermissionDenied, toAssError } from './errors.js';
import { checkKey, checkNamespace, MAX_NAMESPACE_DEPTH } from './paths.js';

/** How many metadata reads a `list` runs at once. */
const LIST_CONCURRENCY = 8;

/**
 * `SecretBackend` over a Vault KV mount. Every call: validate → ensure a valid token → run the
 * engine → on a 403 with AppRole, log in again once and retry → map errors (scrubbed).
 * No value, tier or type is cached: a sealed or unreachable Vault fails the call, it never serves
 * stale data. (KV v2 remembers only each secret's created_at, see created-at-cache.ts.)
 */
export class VaultBackend implements SecretBackend {
  readonly kind = 'vault';
  readonly capabilities: BackendCapabilities;
  private readonly writes = new KeyedQueue();

  constructor(
    private readonly client: VaultClient,
    private readonly session: VaultSession,
    private readonly engine: KvEngine,
    private readonly casRetries: number,
  ) {
    this.capabilities = engine.capabilities;
  }

  async get(namespace: string, key: string): Promise<SecretRecord | null> {
    checkNamespace(namespace);
    checkKey(key);
    return this.call(`read '${namespace}/${key}'`, () => this.engine.read(namespace, key));
  }

  async put(write: SecretWrite, options: PutOptions = {}): Promise<SecretSummary> {
    checkNamespace(write.namespace);
    checkKey(write.key);
    if (Buffer.byteLength(write.value, 'utf8') > MAX_VALUE_BYTES) {
      throw new AssError('VALUE_TOO_LARGE', `The value is larger than ${MAX_VALUE_BYTES} bytes; nothing was written.`);
    }
    const what = `write '${write.namespace}/${write.key}'`;
    // Writes to one key through this proxy take turns, so cas conflicts come only from other
    // writers (another proxy, another tool).
    return this.writes.run(`${write.namespace}\u0000${write.key}`, async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.call(what, () => this.engine.write(write, options.expectedVersion));
        } catch (error) {
          // Without expectedVersion the caller asked to append whatever is there: re-read the
          // version and retry a bounded number of times. With it, the conflict is the answer.
          const retry = isAssError(error) && error.code === 'CONFLICT' && options.expectedVersion === undefined && attempt < this.casRetries;
          if (!retry) throw error;
          await sleep(Math.floor(Math.random() * 20 * (attempt + 1)));
        }
      }
    });
  }

  async list(namespace: string): Promise<SecretSummary[]> {
    checkNamespace(namespace);
    return this.call(`list '${namespace}'`, async () => {
      const keys = (await this.engine.children(namespace)).filter((k) => !k.endsWith('/')).sort();
      const out: (SecretSummary | null)[] = new Array(keys.length).fill(null);
      let next = 0;
      const worker = async () => {
        while (next < keys.length) {
          const i = next++;
          out[i] = await this.engine.summary(namespace, keys[i]!);
        }
      };
      await Promise.all(Array.from({ length: Math.min(LIST_CONCURRENCY, keys.length) }, worker));
      return out.filter((s): s is SecretSummary => s !== null).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  async listNamespaces(): Promise<string[]> {
    return this.call('list namespaces', async () => {
      const found = new Set<string>();
      const walk = async (namespace: string, depth: number): Promise<void> => {
        const entries = await this.engine.children(namespace);
        if (namespace !== '' && entries.some((e) => !e.endsWith('/'))) {
          const parts = namespace.split('/');
          for (let i = 1; i <= parts.length; i++) found.add(parts.slice(0, i).join('/'));
        }
        if (depth >= MAX_NAMESPACE_DEPTH) return;
        for (const folder of entries.filter((e) => e.endsWith('/'))) {
          const name = folder.slice(0, -1);
          await walk(namespace === '' ? name : `${namespace}/${name}`, depth + 1);
        }
      };
      await walk('', 0);
      return [...found].sort();
    });
  }

  async delete(namespace: string, key: string, _options: DeleteOptions = {}): Promise<boolean> {
    checkNamespace(namespace);
    checkKey(key);
    return this.call(`delete '${namespace}/${key}'`, () => this.engine.remove(namespace, key));
  }

  async health(): Promise<BackendHealth> {
    try {
      await this.session.ready();
      // sys/health answers with a body for every status; node-vault resolves it.
      const body = asRecord(await this.client.read('sys/health'));
      if (body?.initialized === false) return { ok: false, detail: 'Vault is not initialized' };
      if (body?.sealed === true) return { ok: false, detail: 'Vault is sealed' };
      if (!body) return { ok: false, detail: 'Vault health answer was empty' };
      // sys/health needs no token: check that ours is still accepted (default policy allows it).
      await this.client.read('auth/token/lookup-self');
      return { ok: true, detail: "Vault is unsealed and reachable, and accepts the proxy's token" };
    } catch (error) {
      const mapped = toAssError(error, 'health check');
      return { ok: false, detail: mapped.message };
    }
  }

  async close(): Promise<void> {
    this.session.close();
  }

  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      await this.session.ready();
      try {
        return await run();
      } catch (error) {
        if (!(isPermissionDenied(error) && this.session.canRelogin)) throw error;
        // The AppRole token may have expired between renewals: log in once more and retry.
        await this.session.relogin();
        return await run();
      }
    } catch (error) {
      throw toAssError(error, what);
    }
  }
}

/** Runs tasks with the same key one after another; different keys run concurrently. */
class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
