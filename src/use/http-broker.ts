/**
 * The HTTP broker behind http_request: secrets go into a request only towards the hosts a human
 * allowed for their namespace (`use.http.rules`), the decision is made before anything is
 * resolved or sent, redirects are never followed (the 3xx comes back as the answer), and the
 * response is masked and capped.
 */
import { AssError } from '../shared/errors.js';
import { matchSegments, parsePathPattern } from '../policy/index.js';
import { Masker } from './mask.js';
import { placeholderReferences, renderPlaceholders, type SecretReference } from './reference.js';

export interface HttpRule {
  namespaces: string;
  allowed_hosts: string[];
  schemes: string[];
  methods: string[];
}

export interface HttpRequestInput {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
  truncated: boolean;
}

/** A request checked against the rules: where it goes and which secrets it carries. */
export interface PlannedRequest {
  input: HttpRequestInput;
  method: string;
  url: URL;
  references: SecretReference[];
  /** `https://host:port`, as audited (never the path or query: they may carry agent text). */
  destination: string;
}

/** Request headers the agent may not set (the broker owns the connection). */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-authorization', 'proxy-connection']);

/**
 * Headers that would let an echoed value come back in a form masking cannot see: compressed
 * (accept-encoding) or in slices (range). The broker sets accept-encoding: identity itself.
 */
const ENCODING_HEADERS = new Set(['accept-encoding', 'range', 'if-range']);

function hostAllowed(pattern: string, url: URL): boolean {
  const p = pattern.toLowerCase();
  const withPort = p.includes(':') && !p.startsWith('[') ? true : /\]:[0-9]+$/.test(p);
  // url.host drops a default port (`https://h:443` → `h`), so the port is put back for comparison.
  const port = url.port || (url.protocol === 'https:' ? '443' : url.protocol === 'http:' ? '80' : '');
  const candidate = withPort ? `${url.hostname.toLowerCase()}:${port}` : url.hostname.toLowerCase();
  if (p.startsWith('*.')) return candidate.endsWith(p.slice(1)) && candidate.length > p.length - 1;
  return candidate === p;
}

/** The rules whose namespace pattern matches this namespace. */
function rulesFor(rules: readonly HttpRule[], namespace: string): HttpRule[] {
  return rules.filter((r) => matchSegments(parsePathPattern(r.namespaces), namespace.split('/')));
}

/**
 * Parses the request, finds every `{{ass://…}}` placeholder in the URL, headers and body, and
 * checks that each one's namespace may be sent to this scheme, host and method.
 * @throws AssError INVALID_ARGUMENT for a bad URL/reference, POLICY_DENIED for a destination
 * that is not allowed — before any secret is read and before anything is sent.
 */
export function planRequest(rules: readonly HttpRule[], input: HttpRequestInput): PlannedRequest {
  const method = input.method.toUpperCase();
  // Security: placeholders in the authority would let the secret choose the destination.
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new AssError('INVALID_ARGUMENT', 'url is not an absolute URL (e.g. https://api.example.com/v1/charges).');
  }
  if (/\{\{/.test(`${url.protocol}//${url.username}:${url.password}@${url.host}`) || /\{\{/.test(input.url.split('/').slice(0, 3).join('/'))) {
    throw new AssError('INVALID_ARGUMENT', 'A placeholder may appear in the path, query, headers or body, never in the scheme, host or user info.');
  }
  for (const name of Object.keys(input.headers ?? {})) {
    if (HOP_HEADERS.has(name.toLowerCase())) throw new AssError('INVALID_ARGUMENT', `The header ${JSON.stringify(name.slice(0, 40))} is set by the broker, not by the caller.`);
    if (ENCODING_HEADERS.has(name.toLowerCase())) {
      throw new AssError('INVALID_ARGUMENT', `The header ${JSON.stringify(name.slice(0, 40))} is not allowed: the broker asks for the whole, unencoded answer (accept-encoding: identity) so that masking can see it.`);
    }
  }
  if (input.body !== undefined && (method === 'GET' || method === 'HEAD')) throw new AssError('INVALID_ARGUMENT', `A ${method} request has no body; use POST, PUT or PATCH to send one.`);
  const references = requestReferences(input);
  const scheme = url.protocol.replace(/:$/, '');
  const destination = `${scheme}://${url.host}`;
  // With no placeholder, the host must still be one a rule names: this is not a general fetch tool.
  const checks = references.length ? references.map((r) => ({ what: r.text, rules: rulesFor(rules, r.namespace) })) : [{ what: 'a request without secrets', rules: [...rules] }];
  for (const { what, rules: applicable } of checks) {
    const ok = applicable.some((r) => r.schemes.includes(scheme) && r.methods.includes(method) && r.allowed_hosts.some((h) => hostAllowed(h, url)));
    if (!ok) {
      throw new AssError(
        'POLICY_DENIED',
        `${what} may not be sent with ${method} to ${destination}: no use.http rule allows that scheme, host and method for its namespace. Nothing was sent; a human can allow the host in use.http.rules.`,
      );
    }
  }
  return { input, method, url, references, destination };
}

/** Every reference in the request's placeholders (URL, headers, body), once each. */
export function requestReferences(input: HttpRequestInput): SecretReference[] {
  const texts = [input.url, ...Object.entries(input.headers ?? {}).flat(), input.body ?? ''];
  const seen = new Map<string, SecretReference>();
  for (const text of texts) for (const ref of placeholderReferences(text)) seen.set(ref.text, ref);
  return [...seen.values()];
}

/** `scheme://host:port` of a URL, for the audit (never its path or query); `an invalid URL` if it is not one. */
export function destinationOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}`;
  } catch {
    return 'an invalid URL';
  }
}

/** Sends a planned request with the resolved values; never follows a redirect. */
export async function sendRequest(plan: PlannedRequest, values: Map<string, string>, options: { timeoutMs: number; responseCap: number }): Promise<HttpAnswer> {
  const valueOf = (ref: SecretReference): string => {
    const value = values.get(ref.text);
    if (value === undefined) throw new AssError('INTERNAL', 'A placeholder was not resolved.');
    return value;
  };
  const url = renderPlaceholders(plan.input.url, (r) => encodeURIComponent(valueOf(r)));
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(plan.input.headers ?? {})) headers[name] = renderPlaceholders(value, valueOf);
  headers['accept-encoding'] = 'identity';
  const body = plan.input.body === undefined ? undefined : renderPlaceholders(plan.input.body, valueOf);
  // Security: the rendered URL must still point where the plan was checked for.
  if (new URL(url).host !== plan.url.host) throw new AssError('INVALID_ARGUMENT', 'The rendered URL changed its host.');
  const masker = new Masker(values.values());
  let response: Response;
  try {
    response = await fetch(url, { method: plan.method, headers, body: plan.method === 'GET' || plan.method === 'HEAD' ? undefined : body, redirect: 'manual', signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (error) {
    const name = (error as Error)?.name;
    // Security: the cause's message may quote the URL, which may carry a value: say only what kind.
    throw new AssError('BACKEND_UNAVAILABLE', name === 'TimeoutError' ? `The request to ${plan.destination} timed out.` : `The request to ${plan.destination} failed (${String((error as { cause?: { code?: string } })?.cause?.code ?? name)}).`);
  }
  // Security: a body in an encoding masking cannot read (a server that ignored identity) is not returned.
  const encoding = (response.headers.get('content-encoding') ?? '').trim().toLowerCase();
  if (encoding !== '' && encoding !== 'identity') {
    await response.body?.cancel().catch(() => undefined);
    throw new AssError('BACKEND_UNAVAILABLE', `${plan.destination} answered with content-encoding ${JSON.stringify(encoding.slice(0, 40))} although identity was asked; the answer is not returned (masking cannot see inside an encoded body).`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  if (response.body) {
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const room = options.responseCap - size;
        if (value.length > room) {
          truncated = true;
          if (room > 0) chunks.push(Buffer.from(value.subarray(0, room)));
          await reader.cancel();
          break;
        }
        chunks.push(Buffer.from(value));
        size += value.length;
      }
    } catch (error) {
      throw new AssError('BACKEND_UNAVAILABLE', `Reading the answer from ${plan.destination} ${(error as Error)?.name === 'TimeoutError' ? 'timed out' : 'failed'}.`);
    }
  }
  const answerHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    answerHeaders[name] = new Masker(values.values()).maskText(value);
  });
  // A cut body may end with the start of a value: the masker's held-back tail is then dropped.
  const masked = masker.push(Buffer.concat(chunks));
  const answerBody = Buffer.concat(truncated ? [masked] : [masked, masker.end()]).toString('utf8');
  return { status: response.status, headers: answerHeaders, body: answerBody, truncated };
}
