/**
 * If the audit record cannot be written, the request fails closed: no value is returned and
 * no write is made. The audit log is replaced by a directory (a write fails even as root),
 * then restored; the server serves again once it can record.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, call, connectAgent, initHome, ok, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';

const SECRET = { namespace: 'staging/app', key: 'TOKEN' };

let home: Home;
let agent: AgentConnection;

beforeAll(async () => {
  home = await initHome();
  agent = await connectAgent(home.configPath, home.agentKey);
  await ok(agent.client, 'set_secret', { ...SECRET, value: 'fail-closed-v1' });
});

afterAll(async () => {
  await agent?.close();
  removeHome(home);
});

describe('audit unavailable', () => {
  it('refuses reads and writes without returning a value or changing anything', async () => {
    const log = path.join(home.dir, 'audit.log');
    const saved = `${log}.saved`;
    await rename(log, saved);
    await mkdir(log);
    try {
      const read = await call(agent.client, 'get_secret', SECRET);
      expect(read).toMatchObject({ ok: false, code: 'AUDIT_UNAVAILABLE' });
      expect(JSON.stringify(read)).not.toContain('fail-closed-v1');
      const write = await call(agent.client, 'set_secret', { ...SECRET, value: 'fail-closed-v2' });
      expect(write).toMatchObject({ ok: false, code: 'AUDIT_UNAVAILABLE' });
      const token = await call(agent.client, 'request_token', { scopes: ['secrets:read:staging/**'] });
      expect(token.ok).toBe(false);
      // A human operation fails closed too.
      const rotate = await admin(home, ['secrets', 'rotate', SECRET.namespace, SECRET.key, '--generate']);
      expect(rotate.code).not.toBe(0);
      expect(rotate.stderr).toMatch(/audit log could not be written/);
    } finally {
      await rm(log, { recursive: true, force: true });
      await rename(saved, log);
    }
    expect(await ok(agent.client, 'get_secret', SECRET)).toMatchObject({ value: 'fail-closed-v1', version: 1 });
    const verified = await admin(home, ['audit', 'verify']);
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
  });
});
