import { Resolver } from 'node:dns/promises';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { OAuthClientMetadataSchema, type OAuthClientMetadata } from '@modelcontextprotocol/sdk/shared/auth.js';
import { getDomain } from 'tldts';

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
/** One deadline for a whole document fetch: waiting for a slot, DNS and the HTTPS request. */
const FETCH_TIMEOUT_MS = 5000;
/** One DNS attempt per query, no retry: a resolver that stalls costs at most this. */
const DNS_TIMEOUT_MS = 2000;
/** Document fetches in progress at once, over every client (further ones wait for a slot, within the deadline). */
const MAX_FETCHES = 4;
/** …and per registrable domain (random sub-domains of one attacker's zone share it). */
const MAX_FETCHES_PER_DOMAIN = 1;
/** Waiters beyond this are refused at once (each waiting request holds a socket). */
const MAX_WAITING = 64;
/** A domain whose DNS or connection failed is not tried again for this long (any sub-domain, any path). */
const DOMAIN_FAILURE_MS = 60_000;
const MAX_FAILED_DOMAINS = 1000;

/**
 * Addresses a client ID metadata document may never be fetched from: anyone can name any URL as
 * a client_id (no sign-in needed), so without this the server is a request forger and port
 * scanner for its own network. Loopback, private (RFC 1918), CGNAT, link-local (cloud metadata),
 * ULA, multicast, reserved and documentation ranges, and IPv6 forms that embed an IPv4 address
 * (mapped, NAT64, 6to4, Teredo).
 */
// Two lists: a BlockList also matches IPv4 addresses against IPv6 rules in their mapped form.
const NOT_PUBLIC_V4 = new BlockList();
const NOT_PUBLIC_V6 = new BlockList();
for (const [net, prefix] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) NOT_PUBLIC_V4.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [['::', 128], ['::1', 128], ['::ffff:0:0', 96], ['::', 96], ['64:ff9b::', 96], ['64:ff9b:1::', 48], ['100::', 64], ['2001::', 32], ['2001:db8::', 32], ['2002::', 16], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8]] as const) NOT_PUBLIC_V6.addSubnet(net, prefix, 'ipv6');
const LOOPBACK_V4 = new BlockList();
LOOPBACK_V4.addSubnet('127.0.0.0', 8, 'ipv4');
const LOOPBACK_V6 = new BlockList();
LOOPBACK_V6.addAddress('::1', 'ipv6');

/** True when a document may be fetched from `address` (loopback only with the test-only allowance). */
export function documentAddressAllowed(address: string, allowLoopback = false): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (allowLoopback && (family === 4 ? LOOPBACK_V4 : LOOPBACK_V6).check(address, type)) return true;
  return !(family === 4 ? NOT_PUBLIC_V4 : NOT_PUBLIC_V6).check(address, type);
}

/** Why a document could not be used: for the operator's log only, never the browser (it would be a scanner's oracle). */
export class ClientDocumentError extends Error {
  override readonly name = 'ClientDocumentError';
}

/**
 * Fetches and validates a client ID metadata document: https only, no redirects, 5 s, at most
 * 64 KiB read (the body is streamed and the connection dropped past it), JSON whose `client_id`
 * is exactly the URL it was fetched from. The host is resolved first, every address must be
 * public, and the connection goes to the address that was checked (no second DNS answer).
 * Bounded: one 5 s deadline covers the wait for a slot, DNS (c-ares, 2 s, one try) and
 * the request; at most 4 fetches run at once, 1 per registrable domain; a domain whose DNS or
 * connection failed is refused at once for 60 s, whatever sub-domain or path is named.
 * @returns the document and how long it may be cached (Cache-Control max-age, in seconds).
 * @throws ClientDocumentError with the detail for the log.
 */
export async function fetchClientMetadataDocument(url: string, options: { allowLoopback?: boolean } = {}): Promise<{ document: OAuthClientMetadata & { client_id: string }; maxAgeS?: number }> {
  const target = new URL(url);
  if (target.protocol !== 'https:') throw new ClientDocumentError('not https');
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const domain = registrableDomain(host);
  const failedUntil = failedDomains.get(domain);
  if (failedUntil !== undefined && failedUntil > Date.now()) throw new ClientDocumentError(`${domain} failed recently (DNS or connection); not tried again yet`);
  const deadline = AbortSignal.timeout(FETCH_TIMEOUT_MS);
  const release = await fetchSlot(domain, deadline);
  try {
    // It may have failed while this one waited for its slot.
    if ((failedDomains.get(domain) ?? 0) > Date.now()) throw new ClientDocumentError(`${domain} failed recently (DNS or connection); not tried again yet`);
    return await fetchWithin(url, target, host, options, deadline);
  } catch (error) {
    if (error instanceof UnreachableError) rememberFailure(domain);
    throw error;
  } finally {
    release();
  }
}

/** A failure of the network (DNS, connection, deadline), remembered per domain; not one of the document's content. */
class UnreachableError extends ClientDocumentError {}

async function fetchWithin(url: string, target: URL, host: string, options: { allowLoopback?: boolean }, deadline: AbortSignal): Promise<{ document: OAuthClientMetadata & { client_id: string }; maxAgeS?: number }> {
  const addresses = isIP(host) ? [{ address: host, family: isIP(host) }] : await resolveHost(host, deadline);
  if (addresses.length === 0) throw new UnreachableError(`${host} does not resolve`);
  const refused = addresses.find((a) => !documentAddressAllowed(a.address, options.allowLoopback));
  if (refused) throw new ClientDocumentError(`${host} resolves to ${refused.address}, which is not a public address`);
  const pinned = addresses[0]!;
  const { status, body, cacheControl } = await getCapped(target, pinned, deadline);
  if (status !== 200) throw new ClientDocumentError(`fetching it answered HTTP ${status}`);
  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(body);
  } catch {
    throw new ClientDocumentError('it is not JSON');
  }
  const parsed = OAuthClientMetadataSchema.safeParse(parsedJson);
  if (!parsed.success) throw new ClientDocumentError(`it is not valid client metadata (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  if ((parsedJson as { client_id?: unknown }).client_id !== url) throw new ClientDocumentError('its client_id is not the URL it was fetched from');
  const maxAge = /(?:^|,)\s*max-age=(\d{1,9})/i.exec(cacheControl ?? '');
  return { document: { ...parsed.data, client_id: url }, ...(maxAge && !/no-store|no-cache/i.test(cacheControl ?? '') ? { maxAgeS: Number(maxAge[1]) } : {}) };
}

/** One GET to the checked address (TLS still verified against the URL's host name), the body read up to the cap. */
function getCapped(target: URL, pinned: { address: string; family: number }, deadline: AbortSignal): Promise<{ status: number; body: string; cacheControl?: string }> {
  return new Promise((resolve, reject) => {
    const pin: LookupFunction = (_hostname, opts, callback) => {
      // Node asks for every address when it races families (autoSelectFamily): answer the checked one only.
      if ((opts as { all?: boolean }).all) (callback as unknown as (e: null, a: { address: string; family: number }[]) => void)(null, [pinned]);
      else callback(null, pinned.address, pinned.family);
    };
    const req = httpsRequest(target, { method: 'GET', lookup: pin, headers: { accept: 'application/json' }, signal: deadline }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_DOCUMENT_BYTES) {
          // Security: stop reading at the cap; a document server streaming gigabytes costs us 64 KiB.
          req.destroy(new ClientDocumentError('it is larger than 64 KiB'));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(typeof res.headers['cache-control'] === 'string' ? { cacheControl: res.headers['cache-control'] } : {}) }));
      res.on('error', reject);
    });
    req.on('error', (error) => reject(error instanceof ClientDocumentError ? error : new UnreachableError(`fetching it failed: ${(error as Error).message}`)));
    req.end();
  });
}

/**
 * Security: the host is resolved with c-ares (`Resolver`: A and AAAA queries over the
 * network), never `dns.lookup` — getaddrinfo runs on libuv's 4-thread pool with the system
 * resolver's timeouts, so four lookups of a zone whose DNS never answers would stall every file
 * read and write of the process (state, audit log, file backend). One attempt of DNS_TIMEOUT_MS
 * per query, cancelled at the fetch's deadline.
 */
async function resolveHost(host: string, deadline: AbortSignal): Promise<{ address: string; family: number }[]> {
  const resolver = new Resolver({ timeout: DNS_TIMEOUT_MS, tries: 1 });
  if (resolverServers) resolver.setServers(resolverServers);
  const cancel = () => resolver.cancel();
  deadline.addEventListener('abort', cancel, { once: true });
  try {
    const [v4, v6] = await Promise.all([resolver.resolve4(host).catch(() => [] as string[]), resolver.resolve6(host).catch(() => [] as string[])]);
    if (deadline.aborted) throw new UnreachableError(`resolving ${host} took longer than ${FETCH_TIMEOUT_MS} ms`);
    return [...v4.map((address) => ({ address, family: 4 })), ...v6.map((address) => ({ address, family: 6 }))];
  } finally {
    deadline.removeEventListener('abort', cancel);
  }
}

let resolverServers: string[] | null = null;

/**
 * TEST-ONLY: the DNS servers document host names are resolved with (a test points them at a
 * loopback socket that never answers). Not reachable from config or the environment; null
 * restores the system's servers.
 */
export function setDocumentResolverServersForTests(servers: string[] | null): void {
  resolverServers = servers;
}

/** The registrable domain (public suffix + one label, private suffixes such as github.io counted); an IP address is its own. */
function registrableDomain(host: string): string {
  if (isIP(host)) return host;
  return getDomain(host, { allowPrivateDomains: true }) ?? host.toLowerCase();
}

const failedDomains = new Map<string, number>();

function rememberFailure(domain: string): void {
  failedDomains.delete(domain);
  failedDomains.set(domain, Date.now() + DOMAIN_FAILURE_MS);
  // Bounded: the oldest failure is forgotten first.
  while (failedDomains.size > MAX_FAILED_DOMAINS) failedDomains.delete(failedDomains.keys().next().value!);
}

let running = 0;
const runningPerDomain = new Map<string, number>();
const waiting: { domain: string; start: () => void }[] = [];

/** Waits (within the deadline) until both the global and the domain's bounds leave room; returns the release. */
function fetchSlot(domain: string, deadline: AbortSignal): Promise<() => void> {
  const free = () => running < MAX_FETCHES && (runningPerDomain.get(domain) ?? 0) < MAX_FETCHES_PER_DOMAIN;
  const take = (): (() => void) => {
    running++;
    runningPerDomain.set(domain, (runningPerDomain.get(domain) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      running--;
      const left = (runningPerDomain.get(domain) ?? 1) - 1;
      if (left > 0) runningPerDomain.set(domain, left);
      else runningPerDomain.delete(domain);
      wakeWaiters();
    };
  };
  if (free() && !waiting.some((w) => w.domain === domain)) return Promise.resolve(take());
  if (waiting.length >= MAX_WAITING) return Promise.reject(new ClientDocumentError('too many client documents are being fetched; try again'));
  return new Promise((resolve, reject) => {
    const waiter = {
      domain,
      start: () => {
        deadline.removeEventListener('abort', onAbort);
        resolve(take());
      },
    };
    const onAbort = () => {
      const at = waiting.indexOf(waiter);
      if (at >= 0) waiting.splice(at, 1);
      reject(new ClientDocumentError(`no fetch slot within ${FETCH_TIMEOUT_MS} ms (other client documents are being fetched)`));
    };
    deadline.addEventListener('abort', onAbort, { once: true });
    waiting.push(waiter);
  });
}

/** Starts, in arrival order, every waiter whose domain now has room. */
function wakeWaiters(): void {
  for (let i = 0; i < waiting.length && running < MAX_FETCHES; ) {
    const waiter = waiting[i]!;
    if ((runningPerDomain.get(waiter.domain) ?? 0) < MAX_FETCHES_PER_DOMAIN) {
      waiting.splice(i, 1);
      waiter.start();
    } else i++;
  }
}
