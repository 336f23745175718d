/** `ip_allowlist` matching: exact addresses, CIDR blocks, IPv4 clients on dual-stack sockets, bad entries. */
import { describe, expect, it } from 'vitest';
import { addressAllowed, checkTokenAddress, IpAllowlistSchema } from '../../src/server/http/ip-allowlist.js';
import { AssError } from '../../src/shared/errors.js';

describe('addressAllowed', () => {
  it.each<[string[], string | undefined, boolean]>([
    [['127.0.0.1'], '127.0.0.1', true],
    [['127.0.0.1'], '127.0.0.2', false],
    [['127.0.0.1'], '::ffff:127.0.0.1', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['192.168.1.0/24'], '192.168.1.200', true],
    [['192.168.1.0/24'], '192.168.2.1', false],
    [['::1'], '::1', true],
    [['::1'], '127.0.0.1', false],
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['0.0.0.0/0'], '203.0.113.9', true],
    [['203.0.113.0/24', '::1'], '::1', true],
    [['127.0.0.1'], undefined, false],
    [['127.0.0.1'], 'not-an-address', false],
  ])('%j allows %s → %s', (list, address, expected) => {
    expect(addressAllowed(list, address)).toBe(expected);
  });
});

describe('IpAllowlistSchema', () => {
  it.each(['10.0.0.0/33', '::1/129', '1.2.3.4/8/1', '1.2.3', 'localhost', '10.0.0.0/', '10.0.0.0/-1', ' 10.0.0.1', ''])('refuses %j', (entry) => {
    expect(IpAllowlistSchema.safeParse([entry]).success).toBe(false);
  });
  it('accepts addresses and blocks of both families, and refuses an empty list', () => {
    expect(IpAllowlistSchema.safeParse(['127.0.0.1', '10.0.0.0/8', '::1', '2001:db8::/32']).success).toBe(true);
    expect(IpAllowlistSchema.safeParse([]).success).toBe(false);
  });
});

describe('checkTokenAddress', () => {
  it('passes without a list, refuses outside it with POLICY_DENIED naming neither list nor address', () => {
    expect(() => checkTokenAddress(undefined, '203.0.113.9')).not.toThrow();
    expect(() => checkTokenAddress(['127.0.0.1'], '127.0.0.1')).not.toThrow();
    let error: unknown;
    try {
      checkTokenAddress(['10.1.2.0/24'], '203.0.113.9');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AssError);
    expect((error as AssError).code).toBe('POLICY_DENIED');
    expect((error as AssError).message).not.toMatch(/10\.1\.2|203\.0\.113/);
  });
});
