import http from 'node:http';
import https from 'node:https';
import type { VaultClient } from './client.js';
import type { VaultBackendConfig } from './config.js';

/**
 * Vault's HTTP API over Node's own `http`/`https`, one keep-alive connection pool per backend:
 * the four calls the adapter makes (read, write, list, delete), with node-vault's semantics
 * (same URLs, headers and answers) but without its request stack. node-vault sends every
 * request through tv4 validation, mustache and axios (with follow-redirects and form-data):
 * ~20 MiB of resident memory once loaded, and the slowest part of the first reads of a fresh
 * process (issue 14). Vault's API needs none of it: JSON in, JSON out, a token header.
 *
 * Answers: 200 and 204 resolve with the parsed JSON body (`''` when empty), as does every
 * answer of `sys/health` (it reports seal state through its status code). Anything else rejects
 * with a `VaultHttpError` whose `response` has `statusCode` and the parsed `body`, the shape
 * `errors.ts` classifies. A timeout or a connection failure rejects with no `response`.
 *
 * Security: only the config's address is contacted: no proxy from `HTTP(S)_PROXY`, no redirect
 * followed (a redirect could carry the token to another host); TLS certificates are verified.
 * Error messages name the status only, never Vault's text, the URL or the token.
 */
export class VaultHttpError extends Error {
  readonly response: { statusCode: number; body: unknown };

  constructor(statusCode: number, body: unknown) {
    super(`Vault answered status ${statusCode}`);
    this.name = 'VaultHttpError';
    this.response = { statusCode, body };
  }
}

/** Bounds the answer we buffer: Vault's own request limit is 32 MiB; a KV answer is far smaller. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;

export function createVaultHttpClient(config: Pick<VaultBackendConfig, 'address' | 'namespace' | 'request_timeout_ms'>): VaultClient & { close(): void } {
  // Joined as text, as node-vault did: a path is never resolved as a relative URL.
  const base = `${config.address.replace(/\/+$/, '')}/v1/`;
  const secure = new URL(base).protocol === 'https:';
  const agent = secure ? new https.Agent({ keepAlive: true, rejectUnauthorized: true }) : new http.Agent({ keepAlive: true });
  const namespace = config.namespace ?? '';
  const client = {
    token: '',
    read: (path: string) => request('GET', path, undefined),
    write: (path: string, data: unknown) => request('POST', path, data),
    // node-vault's `noCustomHTTPVerbs`: GET with list=1 instead of the LIST verb.
    list: (path: string) => request('GET', `${path}?list=1`, undefined),
    delete: (path: string) => request('DELETE', path, undefined),
    close: () => agent.destroy(),
  };

  function request(method: string, path: string, data: unknown): Promise<unknown> {
    const url = new URL(base + path);
    const body = data === undefined ? undefined : Buffer.from(JSON.stringify(data));
    const headers: Record<string, string | number> = { accept: 'application/json' };
    if (client.token) headers['X-Vault-Token'] = client.token;
    if (namespace) headers['X-Vault-Namespace'] = namespace;
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    const health = /(^|\/)sys\/health$/.test(url.pathname);
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers, agent, timeout: config.request_timeout_ms }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER_BYTES) {
            req.destroy(new Error('Vault answer too large'));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          if (text) {
            try {
              parsed = JSON.parse(text);
            } catch {
              // Not JSON (e.g. a proxy's HTML error page): kept as text, never shown to anyone.
            }
          }
          if (status === 200 || status === 204 || health) resolve(parsed);
          else reject(new VaultHttpError(status, parsed));
        });
      });
      // No answer in time: destroyed, rejected without a response (BACKEND_UNAVAILABLE).
      req.on('timeout', () => req.destroy(new Error('Vault did not answer in time')));
      req.on('error', reject);
      req.end(body);
    });
  }

  return client;
}
