import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { AssError, ERROR_CODES, type ErrorCode } from '../../shared/errors.js';

export interface RemoteResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface RemoteClientOptions {
  baseUrl: string;
  timeoutMs: number;
  retries: number;
  ca?: Buffer;
  /** Backoff base in ms (tests shorten it). */
  backoffMs?: number;
}

/**
 * A small JSON-over-HTTP client with keep-alive, a per-attempt timeout and retries.
 * Retried: network errors, timeouts and 5xx. Never retried: any 4xx (the answer is final).
 * Security: errors carry the method, status and code only — never the URL's path (it names
 * secrets), a header, a body or the remote's own message.
 */
export class RemoteClient {
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly base: URL;

  constructor(private readonly options: RemoteClientOptions) {
    this.base = new URL(options.baseUrl);
    this.agent = this.base.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, ...(options.ca ? { ca: options.ca } : {}) }) : new HttpAgent({ keepAlive: true });
  }

  async call(method: string, path: string, bearer: string, body?: unknown): Promise<RemoteResponse> {
    const attempts = this.options.retries + 1;
    for (let attempt = 1; ; attempt++) {
      let outcome: RemoteResponse | Error;
      try {
        outcome = await this.once(method, path, bearer, body);
      } catch (error) {
        outcome = error as Error;
      }
      const retryable = outcome instanceof Error || outcome.status >= 500;
      if (!retryable || attempt >= attempts) {
        if (outcome instanceof Error) {
          throw new AssError('BACKEND_UNAVAILABLE', `The remote secret store did not answer ${method} (${outcome.name === 'TimeoutError' ? 'timed out' : 'connection failed'}) after ${attempt} attempt(s).`);
        }
        return outcome;
      }
      const base = this.options.backoffMs ?? 100;
      await new Promise((r) => setTimeout(r, base * 2 ** (attempt - 1) * (0.5 + Math.random())));
    }
  }

  private once(method: string, path: string, bearer: string, body?: unknown): Promise<RemoteResponse> {
    const url = new URL(path, this.base);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    const make = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = make(
        url,
        {
          method,
          agent: this.agent,
          headers: {
            accept: 'application/json',
            ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
            ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
          },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            let parsed: Record<string, unknown> = {};
            try {
              parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
            } catch {
              parsed = {};
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', (error) => reject(error.name === 'AbortError' ? Object.assign(new Error('timeout'), { name: 'TimeoutError' }) : error));
      if (payload) req.write(payload);
      req.end();
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The hosted product's codes that are not ours, mapped to ours. */
const HOSTED_CODES: Record<string, ErrorCode> = { SCOPE_DENIED: 'POLICY_DENIED', UNAUTHORIZED: 'UNAUTHENTICATED', VALIDATION_ERROR: 'INVALID_ARGUMENT' };

/** The remote's error code when it is one of ours or the hosted product's, else a code for the status. */
export function remoteCode(response: RemoteResponse): ErrorCode {
  const code = (response.body.error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && code in ERROR_CODES) return code as ErrorCode;
  if (typeof code === 'string' && HOSTED_CODES[code]) return HOSTED_CODES[code];
  if (response.status === 401) return 'UNAUTHENTICATED';
  if (response.status === 403) return 'POLICY_DENIED';
  if (response.status === 404) return 'SECRET_NOT_FOUND';
  if (response.status === 409) return 'CONFLICT';
  if (response.status === 413) return 'VALUE_TOO_LARGE';
  if (response.status === 429) return 'RATE_LIMITED';
  if (response.status >= 500) return 'BACKEND_UNAVAILABLE';
  return 'INVALID_ARGUMENT';
}
