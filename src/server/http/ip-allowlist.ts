/**
 * `ip_allowlist` on tokens (the hosted product's field): a token asked for with a list of IPs
 * or CIDR blocks is accepted by the REST API only from a client address in the list.
 *
 * The client address is the TCP peer of the connection (`req.socket.remoteAddress`), never a
 * header: `X-Forwarded-For` and the like are written by whoever sends the request, so trusting
 * them would let any client claim any address. Behind a reverse proxy the peer is the proxy,
 * so an allow-list there must name the proxy's address (or be left out).
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { AssError } from '../../shared/errors.js';

/** An IPv4/IPv6 address, or one with a /prefix. */
function isAddressOrCidr(text: string): boolean {
  const [address, prefix, extra] = text.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^[0-9]{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

export const IpAllowlistSchema = z
  .array(z.string().max(64).refine(isAddressOrCidr, 'must be an IP address or a CIDR block such as 10.0.0.0/8 or 2001:db8::/32'))
  .min(1)
  .max(100);

/** `::ffff:1.2.3.4` (an IPv4 client on a dual-stack socket) → `1.2.3.4`. */
function normalise(address: string): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return { address: mapped[1]!, family: 'ipv4' };
  const family = isIP(address);
  return family === 0 ? null : { address, family: family === 4 ? 'ipv4' : 'ipv6' };
}

/** True when `clientAddress` is inside one of the entries. An unknown address is never inside. */
export function addressAllowed(allowlist: readonly string[], clientAddress: string | undefined): boolean {
  const client = clientAddress ? normalise(clientAddress) : null;
  if (!client) return false;
  const blocks = new BlockList();
  for (const entry of allowlist) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) blocks.addAddress(address, family);
    else blocks.addSubnet(address, Number(prefix), family);
  }
  return blocks.check(client.address, client.family);
}

/**
 * Refuses a token used from outside its allow-list.
 * Security: the answer names neither the list nor the address seen, so a caller cannot probe it.
 * @throws AssError POLICY_DENIED (403, SCOPE_DENIED on the wire)
 */
export function checkTokenAddress(allowlist: readonly string[] | undefined, clientAddress: string | undefined): void {
  if (!allowlist || allowlist.length === 0) return;
  if (!addressAllowed(allowlist, clientAddress)) {
    throw new AssError('POLICY_DENIED', "This token's ip_allowlist does not include the address this request comes from. Request a token without ip_allowlist, or one that lists this client's address.");
  }
}
