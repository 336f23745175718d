/**
 * Eight server processes on one home, one SDK client each, write at once over MCP: 200
 * set_secret on one shared key and 200 on keys of their own, each. Nothing is lost: the shared
 * key ends at exactly version 1600 and all 1600 own keys exist, and the audit chain holds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, connectAgent, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';

const PROCESSES = 8;
const WRITES = 200;
const SHARED = { namespace: 'load/shared', key: 'COUNTER' };

let home: Home;
const connections: AgentConnection[] = [];

beforeAll(async () => {
  home = await initHome();
  for (let i = 0; i < PROCESSES; i++) connections.push(await connectAgent(home.configPath, home.agentKey));
});

afterAll(async () => {
  await Promise.all(connections.map((c) => c.close()));
  removeHome(home);
});

describe(`${PROCESSES} processes × ${WRITES} set_secret over MCP`, () => {
  it('lose nothing', async () => {
    const started = Date.now();
    const errors: string[] = [];
    await Promise.all(
      connections.map(async (conn, p) => {
        // Interleave shared and own writes so contention lasts the whole run.
        for (let i = 0; i < WRITES; i++) {
          const shared = await call(conn.client, 'set_secret', { ...SHARED, value: `p${p}-w${i}` });
          if (!shared.ok) errors.push(`p${p} shared ${i}: ${shared.error}`);
          const own = await call(conn.client, 'set_secret', { namespace: `load/p${p}`, key: `K${i}`, value: `v${p}-${i}` });
          if (!own.ok) errors.push(`p${p} own ${i}: ${own.error}`);
        }
      }),
    );
    const elapsed = Date.now() - started;
    const total = PROCESSES * WRITES * 2;
    console.log(`[concurrent-writes] ${total} set_secret over ${PROCESSES} processes in ${elapsed} ms (${Math.round(total / (elapsed / 1000))}/s)`);
    expect(errors.slice(0, 5)).toEqual([]);

    const reader = connections[0]!.client;
    const shared = await ok(reader, 'get_secret', SHARED);
    expect(shared.version).toBe(PROCESSES * WRITES);
    for (let p = 0; p < PROCESSES; p++) {
      const list = await ok(reader, 'list_secrets', { namespace: `load/p${p}` });
      expect(list.total, `load/p${p}`).toBe(WRITES);
      expect(list.items.every((item: { version: number }) => item.version === 1)).toBe(true);
    }
    const spot = await ok(reader, 'get_secret', { namespace: 'load/p7', key: `K${WRITES - 1}` });
    expect(spot.value).toBe(`v7-${WRITES - 1}`);
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(Number(/OK: (\d+) records/.exec(verified.stdout)?.[1])).toBeGreaterThanOrEqual(total);
  }, 300_000);
});
