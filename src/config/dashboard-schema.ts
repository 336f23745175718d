import { isIP } from 'node:net';
import { z } from 'zod';

/** An address or CIDR block (`10.0.0.0/8`, `2001:db8::/32`). */
function isAddressOrBlock(text: string): boolean {
  const [address, prefix, extra] = text.split('/');
  if (extra !== undefined || !address) return false;
  const family = isIP(address);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  return /^[0-9]{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/** `dashboard:` — where the human pages are, as a person's browser reaches them (links.ts uses it). */
export const DashboardSchema = z
  .object({
    /** The dashboard's address as a human's browser reaches it, e.g. https://secrets.example.com/dashboard. */
    public_url: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
    /**
     * Addresses or CIDR blocks of the reverse proxies in front of this server. A request whose
     * TCP peer is one of them has its client address taken from X-Forwarded-For (the nearest
     * hop that is not a trusted proxy), for per-address limits, the consent page and audit
     * records; from anyone else the header is ignored.
     */
    trusted_proxies: z
      .array(z.string().max(64).refine(isAddressOrBlock, 'must be an IP address or a CIDR block such as 10.0.0.0/8 or 2001:db8::/32'))
      .max(100)
      .optional(),
  })
  .strict();
