import { OAuthClientMetadataSchema, type OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';

/**
 * Client identity checks shared by registration and client ID metadata documents.
 * Redirect URIs (OAuth 2.1 §2.3.1 / MCP spec): https, or http only on a loopback address (a
 * native app's local listener); never a fragment, never userinfo, never another scheme.
 */
export function checkRedirectUri(uri: string): string | null {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'not a URL';
  }
  if (uri.length > 2000) return 'longer than 2000 characters';
  if (url.hash || uri.includes('#')) return 'a redirect URI must not have a fragment';
  if (url.username || url.password) return 'a redirect URI must not carry user info';
  if (url.protocol === 'https:') return null;
  if (url.protocol === 'http:' && isLoopback(url.hostname)) return null;
  return 'must be https, or http on a loopback address (127.0.0.1, [::1], localhost)';
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** A client_id that is an https URL with a path names a client ID metadata document. */
export function isClientMetadataUrl(clientId: string): boolean {
  if (!clientId.startsWith('https://')) return false;
  try {
    const url = new URL(clientId);
    return url.pathname !== '/' && !url.hash && !url.username && !url.password;
  } catch {
    return false;
  }
}

const MAX_DOCUMENT_BYTES = 64 * 1024;

/**
 * Fetches and validates a client ID metadata document: https only, no redirects, 5 s, 64 KiB,
 * JSON whose `client_id` is exactly the URL it was fetched from.
 */
export async function fetchClientMetadataDocument(url: string): Promise<OAuthClientMetadata & { client_id: string }> {
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(5000), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`fetching it answered HTTP ${response.status}`);
  const text = await response.text();
  if (Buffer.byteLength(text) > MAX_DOCUMENT_BYTES) throw new Error('it is larger than 64 KiB');
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error('it is not JSON');
  }
  const parsed = OAuthClientMetadataSchema.safeParse(body);
  if (!parsed.success) throw new Error(`it is not valid client metadata (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  if ((body as { client_id?: unknown }).client_id !== url) throw new Error('its client_id is not the URL it was fetched from');
  return { ...parsed.data, client_id: url };
}
