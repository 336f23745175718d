/**
 * "Keys are stored hashed and compared in constant time", checked without a stopwatch: every
 * key lookup (agents and admins) goes through `crypto.timingSafeEqual`, once per stored
 * candidate whether or not an earlier one matched, always over two 32-byte sha256 digests, one
 * of them the digest of the presented key. A `===`, a Map lookup or an early return would change
 * the recorded calls; how fast this machine is plays no part.
 */
import { createHash } from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { authenticateAdmin, authenticateAgent } from '../../src/server/authenticate.js';
import { generateAdminKey, generateAgentKey, hashKey, matchKey } from '../../src/server/keys.js';
import type { Settings } from '../../src/server/settings.js';

/** Every timingSafeEqual call, with hex copies of both arguments (the real one still runs). */
const calls = vi.hoisted(() => [] as Array<[string, string]>);
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  const timingSafeEqual = (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean => {
    const hex = (v: NodeJS.ArrayBufferView) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
    calls.push([hex(a), hex(b)]);
    return real.timingSafeEqual(a, b);
  };
  return { ...real, timingSafeEqual, default: { ...real, timingSafeEqual } };
});

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

beforeEach(() => {
  calls.length = 0;
});

/** The recorded calls compare each stored digest, in order, with the presented key's digest. */
function expectOneComparisonPerCandidate(presented: string, stored: string[]): void {
  expect(calls).toHaveLength(stored.length);
  calls.forEach(([a, b], i) => {
    expect(a.length).toBe(64);
    expect(b.length).toBe(64);
    expect([a, b].sort()).toEqual([stored[i], sha256(presented)].sort());
  });
}

describe('matchKey', () => {
  const keys = Array.from({ length: 5 }, () => generateAgentKey());
  const entries = keys.map((key, i) => ({ id: `agent-${i}`, key_sha256: hashKey(key) }));
  const stored = entries.map((e) => e.key_sha256);

  it('compares against every entry, also after the first one matched', () => {
    expect(matchKey(keys[0], entries)?.id).toBe('agent-0');
    expectOneComparisonPerCandidate(keys[0]!, stored);
  });

  it('compares against every entry when the last one matches', () => {
    expect(matchKey(keys[4], entries)?.id).toBe('agent-4');
    expectOneComparisonPerCandidate(keys[4]!, stored);
  });

  it('compares equal-length digests whatever length was presented, and finds nothing for a wrong key', () => {
    for (const wrong of ['x', keys[2]!.slice(0, -1), `${keys[2]}x`, 'k'.repeat(10_000)]) {
      calls.length = 0;
      expect(matchKey(wrong, entries)).toBeUndefined();
      expectOneComparisonPerCandidate(wrong, stored);
    }
  });
});

describe('authenticateAgent and authenticateAdmin', () => {
  const agentKeys = [generateAgentKey(), generateAgentKey(), generateAgentKey()];
  const adminKeys = [generateAdminKey(), generateAdminKey()];
  const settings = {
    agents: agentKeys.map((key, i) => ({ config: { id: `a${i}`, key_sha256: hashKey(key) } })),
    config: {
      agents: agentKeys.map((key, i) => ({ id: `a${i}`, key_sha256: hashKey(key) })),
      admins: adminKeys.map((key, i) => ({ id: `admin${i}`, key_sha256: hashKey(key) })),
    },
  } as unknown as Settings;

  it('an agent key is looked up through timingSafeEqual against every agent', () => {
    expect(authenticateAgent(settings, agentKeys[1]).config.id).toBe('a1');
    expectOneComparisonPerCandidate(agentKeys[1]!, agentKeys.map(hashKey));
  });

  it('an admin key is looked up through timingSafeEqual against every admin', () => {
    expect(authenticateAdmin(settings, adminKeys[0])).toBe('admin0');
    expectOneComparisonPerCandidate(adminKeys[0]!, adminKeys.map(hashKey));
  });

  it('an unknown key is compared against every candidate before it is refused', () => {
    const unknown = generateAgentKey();
    expect(() => authenticateAgent(settings, unknown)).toThrow(/Unknown agent key/);
    expectOneComparisonPerCandidate(unknown, agentKeys.map(hashKey));
    calls.length = 0;
    // An agent key offered as an admin key: all admins, then all agents (to say which kind it is).
    expect(() => authenticateAdmin(settings, agentKeys[2])).toThrow(/agent key/);
    expectOneComparisonPerCandidate(agentKeys[2]!, [...adminKeys.map(hashKey), ...agentKeys.map(hashKey)]);
  });
});
