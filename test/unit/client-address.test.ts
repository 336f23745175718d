/**
 * `dashboard.trusted_proxies` (client-address.ts): X-Forwarded-For is believed only from a
 * trusted proxy, read from the nearest hop, and what a client wrote itself never picks its address.
 */
import { describe, expect, it } from 'vitest';
import { DashboardSchema } from '../../src/config/dashboard-schema.js';
import { clientAddressOf, trustedProxies } from '../../src/server/http/client-address.js';

describe('client address behind trusted proxies', () => {
  const none = trustedProxies(undefined);
  const lb = trustedProxies(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32']);

  it('without trusted proxies: the TCP peer, whatever X-Forwarded-For says', () => {
    expect(clientAddressOf('127.0.0.1', '203.0.113.9', none)).toBe('127.0.0.1');
    expect(clientAddressOf('::ffff:198.51.100.4', undefined, none)).toBe('198.51.100.4');
    expect(clientAddressOf(undefined, '203.0.113.9', none)).toBe('unknown');
  });

  it('from a peer that is not a trusted proxy, the header is ignored (a client cannot claim an address)', () => {
    expect(clientAddressOf('198.51.100.4', '203.0.113.9', lb)).toBe('198.51.100.4');
  });

  it('from a trusted proxy: the nearest hop that is not itself trusted; entries the client wrote to its left are not believed', () => {
    expect(clientAddressOf('10.1.2.3', '203.0.113.9', lb)).toBe('203.0.113.9');
    expect(clientAddressOf('::ffff:10.1.2.3', '203.0.113.9', lb)).toBe('203.0.113.9');
    // The client sent "X-Forwarded-For: 1.1.1.1"; our proxies appended the real address, then each other's.
    expect(clientAddressOf('10.1.2.3', '1.1.1.1, 203.0.113.9, 192.0.2.1', lb)).toBe('203.0.113.9');
    expect(clientAddressOf('192.0.2.1', ['1.1.1.1', '203.0.113.9, 10.9.9.9'], lb)).toBe('203.0.113.9');
    expect(clientAddressOf('2001:db8::1', '2001:db9::5', lb)).toBe('2001:db9::5');
  });

  it('every hop trusted: the farthest one; a malformed hop stops at the last trusted address; no header: the peer', () => {
    expect(clientAddressOf('10.1.2.3', '10.4.4.4, 192.0.2.1', lb)).toBe('10.4.4.4');
    expect(clientAddressOf('10.1.2.3', 'not-an-ip, 10.4.4.4', lb)).toBe('10.4.4.4');
    expect(clientAddressOf('10.1.2.3', '203.0.113.9, <script>', lb)).toBe('10.1.2.3');
    expect(clientAddressOf('10.1.2.3', undefined, lb)).toBe('10.1.2.3');
    expect(clientAddressOf('10.1.2.3', ' , ', lb)).toBe('10.1.2.3');
  });

  it('config: addresses and CIDR blocks only, with a clear message', () => {
    expect(DashboardSchema.safeParse({ trusted_proxies: ['10.0.0.0/8', '::1', '192.0.2.1'] }).success).toBe(true);
    for (const bad of ['10.0.0.0/33', 'proxy.example', '10.0.0.1/8/1', '', '2001:db8::/129']) {
      const parsed = DashboardSchema.safeParse({ trusted_proxies: [bad] });
      expect(parsed.success, bad).toBe(false);
      expect(parsed.error!.issues[0]!.message).toMatch(/IP address or a CIDR block/);
    }
  });
});
