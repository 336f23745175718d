/**
 * The client address of a request, for per-address limits, the consent page and audit records.
 *
 * By default the TCP peer (`socket.remoteAddress`): `X-Forwarded-For` is written by whoever sends
 * the request, so believing it would let any client claim any address. With
 * `dashboard.trusted_proxies`, a peer in that list is a proxy of ours: its `X-Forwarded-For` is
 * read from the right (the hop nearest to us), skipping every address that is itself a trusted
 * proxy; the first one that is not is the client. Entries to its left were written by the client
 * and are never believed. A malformed entry stops the walk at the last trusted hop.
 * Token `ip_allowlist` checks do not use this (ip-allowlist.ts: always the TCP peer).
 */
import { BlockList, isIP } from 'node:net';

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`. */
function plain(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1]! : address;
}

export type TrustedProxies = (address: string) => boolean;

/** A matcher for `dashboard.trusted_proxies` (entries checked by the config schema). */
export function trustedProxies(entries: readonly string[] | undefined): TrustedProxies {
  if (!entries || entries.length === 0) return () => false;
  const list = new BlockList();
  for (const entry of entries) {
    const [address, prefix] = entry.split('/');
    const type = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return (address) => {
    const bare = plain(address);
    const family = isIP(bare);
    return family !== 0 && list.check(bare, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The client's address: the TCP peer, or, when the peer is a trusted proxy, the nearest
 * untrusted address in its `X-Forwarded-For` (above).
 */
export function clientAddressOf(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: TrustedProxies): string {
  if (!peer) return 'unknown';
  let current = plain(peer);
  if (!trusted(current) || forwardedFor === undefined) return current;
  const hops = [forwardedFor]
    .flat()
    .join(',')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = plain(hops[i]!);
    if (isIP(hop) === 0) return current;
    current = hop;
    if (!trusted(hop)) return hop;
  }
  return current;
}

/** The eight 16-bit groups of an IPv6 address (zone id dropped, an embedded IPv4 tail folded in). */
function ipv6Groups(address: string): number[] {
  let text = address.split('%')[0]!.toLowerCase();
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const front = head ? head.split(':') : [];
  const back = tail ? tail.split(':') : [];
  const groups = tail === undefined ? front : [...front, ...Array<string>(8 - front.length - back.length).fill('0'), ...back];
  return groups.map((g) => parseInt(g, 16));
}

/**
 * The key a per-address limit counts a client under: an IPv4 address as it is, an IPv6 address
 * by its /64 — one subscriber or host usually holds a whole /64, so counting single IPv6
 * addresses would give one attacker 2^64 fresh budgets (R-6, H8-2).
 */
export function limitKey(address: string): string {
  const bare = plain(address);
  if (isIP(bare) !== 6) return bare;
  return `${ipv6Groups(bare).slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
