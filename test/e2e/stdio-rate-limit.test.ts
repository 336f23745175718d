/**
 * Issue 9, finding 1: stdio had no rate limit at all. The built server over real stdio pipes
 * with `server.rate_limit: { per_minute: 1, burst: 3 }`: three tool calls are served, the fourth
 * is refused with RATE_LIMITED before it reaches the pipeline (no audit record of it).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, connectAgent, initHome, ok, removeHome, type Home } from '../helpers/cli.js';

const homes: Home[] = [];
afterAll(() => homes.forEach(removeHome));

describe('stdio rate limit (server.rate_limit)', () => {
  it('refuses the call beyond the burst with RATE_LIMITED and a retry hint, and audits nothing for it', async () => {
    const home = await initHome({ 'server.rate_limit': { per_minute: 1, burst: 3 } });
    homes.push(home);
    const conn = await connectAgent(home.configPath, home.agentKey);
    try {
      // Listing tools is not a tool call: it is not counted.
      expect((await conn.client.listTools()).tools.length).toBe(8);
      for (let i = 0; i < 3; i++) await ok(conn.client, 'list_namespaces');
      const refused = await call(conn.client, 'list_namespaces');
      expect(refused).toMatchObject({ ok: false, code: 'RATE_LIMITED' });
      expect(!refused.ok && refused.error).toMatch(/^Error: Too many tool calls for this agent; retry in \d+s\.$/);
      const audit = readFileSync(path.join(home.dir, 'audit.log'), 'utf8');
      expect(audit.split('\n').filter((l) => l.includes('"list_namespaces"'))).toHaveLength(3);
    } finally {
      await conn.close();
    }
  });
});
