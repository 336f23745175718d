import type { IncomingMessage, ServerResponse } from 'node:http';
import { AssError, isAssError, type ErrorCode } from '../../shared/errors.js';

/** HTTP status for each error code; the body carries the same code as the MCP result does. */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  POLICY_DENIED: 403,
  APPROVAL_REQUIRED: 403,
  HUMAN_AUTH_REQUIRED: 403,
  SECRET_NOT_FOUND: 404,
  APPROVAL_NOT_FOUND: 404,
  CONFLICT: 409,
  VALUE_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  TOO_MANY_PENDING: 429,
  TOO_MANY_TOKENS: 429,
  INTEGRITY_ERROR: 500,
  BACKEND_UNAVAILABLE: 503,
  AUDIT_UNAVAILABLE: 503,
  STATE_UNAVAILABLE: 503,
  CONFIG_INVALID: 500,
  INTERNAL: 500,
};

/** An HTTP-level refusal with an exact status (Host/Origin, body size, routing), not a pipeline error. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    /** On a JSON-RPC endpoint: the JSON-RPC error code the body carries instead of ours. */
    readonly jsonRpcCode?: number,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

/**
 * The code a REST client reads. The hosted product's clients know `SCOPE_DENIED` (the SDK's
 * ScopeError) where the MCP tools say POLICY_DENIED; a token that asks for delete or rotate is
 * refused the same way (403), since no token can carry a human-only action.
 */
function wireError(failure: AssError): { status: number; code: string } {
  if (failure.code === 'POLICY_DENIED' || failure.details.human_only_scope === true) return { status: 403, code: 'SCOPE_DENIED' };
  return { status: HTTP_STATUS[failure.code], code: failure.code };
}

/**
 * The one place an HTTP error body is made: `{ error: { code, message, retryable, ...details },
 * detail: message }` (`detail` is where the hosted product's MCP server reads the message).
 * Security: only AssError messages and details (already free of values, keys and tokens) and
 * fixed HttpError texts leave; anything else becomes INTERNAL.
 */
export function sendError(res: ServerResponse, error: unknown): number {
  if (error instanceof HttpError) {
    const body = error.jsonRpcCode === undefined ? { error: { code: error.code, message: error.message }, detail: error.message } : { jsonrpc: '2.0', id: null, error: { code: error.jsonRpcCode, message: error.message } };
    sendJson(res, error.status, body, error.headers);
    return error.status;
  }
  const failure = isAssError(error) ? error : new AssError('INTERNAL', 'Internal error. The operator can find it in the server log.');
  const { status, code } = wireError(failure);
  const headers: Record<string, string> = failure.code === 'RATE_LIMITED' && typeof failure.details.retry_after_s === 'number' ? { 'retry-after': String(failure.details.retry_after_s) } : {};
  const { human_only_scope: _marker, ...details } = failure.details;
  sendJson(res, status, { error: { code, message: failure.message, retryable: failure.retryable, ...details }, detail: failure.message }, headers);
  return status;
}

/**
 * Reads the body up to `limit` bytes. A larger declared or streamed body is refused with 413
 * before it is buffered.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new HttpError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`));
  // Events rather than `for await`: the stream's async iterator costs about as much CPU as the
  // rest of the read on every small MCP request (profile under 16 clients, bench/RESULTS.md).
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > limit) {
        cleanup();
        // As `for await` did when it threw: the request (and its connection) is destroyed, so
        // nothing more is read; the 413 reaches a client only when the length was declared.
        req.destroy();
        reject(new HttpError(413, 'PAYLOAD_TOO_LARGE', `The request body is larger than ${limit} bytes.`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    // A client that goes away mid-body ends the read as `for await` did (premature close).
    const onClose = (): void => {
      if (!req.complete) onError(Object.assign(new Error('The request was aborted before its body was read.'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }));
    };
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * Reads and parses a JSON body (empty body → undefined). With `jsonRpc` (the MCP endpoint), an
 * unparsable body is refused as JSON-RPC's parse error (-32700, id null), as the MCP SDK's own
 * transports answer, so a client reads a standard code whatever it sent.
 */
export async function readJson(req: IncomingMessage, limit: number, options: { jsonRpc?: boolean } = {}): Promise<unknown> {
  const body = await readBody(req, limit);
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'INVALID_ARGUMENT', 'The request body is not valid JSON.', {}, options.jsonRpc ? -32700 : undefined);
  }
}
