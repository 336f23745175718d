/**
 * Issue 14, target 1: a stdio server answers `initialize` before it opens a remote backend (for
 * Vault with AppRole: before it has logged in), and a broken backend is still said at once on
 * stderr and to the first call that needs it. Real server process and MCP client; the "Vault"
 * here is a loopback TCP listener that accepts and never answers (a hung Vault, which cannot be
 * made to order from a real one), so that the login is provably still pending when `initialize`
 * is answered. Were the login before `initialize` (as it was), connecting could not complete.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { call, connectAgent, initHome, pollUntil, removeHome, type Home } from '../helpers/cli.js';

const homes: Home[] = [];
afterAll(() => homes.forEach(removeHome));

describe('a stdio server with a remote backend', () => {
  it('answers initialize and lists its tools while the Vault login hangs; the failure reaches stderr and the first call', async () => {
    const sockets: Socket[] = [];
    const hung = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const { port } = hung.address() as { port: number };
    const secretId = randomBytes(16).toString('hex');
    const home = await initHome({
      backend: { type: 'vault', address: `http://127.0.0.1:${port}`, mount: 'secret', kv_version: 2, auth: { method: 'approle', role_id: 'agent-secret-store', secret_id_env: 'TEST_VAULT_SECRET_ID' } },
      'server.backend_recheck': '1s',
    });
    homes.push(home);
    let agent: Awaited<ReturnType<typeof connectAgent>> | undefined;
    try {
      agent = await connectAgent(home.configPath, home.agentKey, { env: { TEST_VAULT_SECRET_ID: secretId } });
      const tools = await agent.client.listTools();
      expect(tools.tools.map((t) => t.name)).toContain('get_secret');
      // The login was started after the answer and is still waiting on the hung listener.
      expect(await pollUntil(async () => sockets.length > 0, 60_000)).toBe(true);
      expect(agent.stderr()).not.toMatch(/not usable/);
      // Vault goes away: the login fails, which is said on stderr and to the agent's call.
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
      expect(await pollUntil(async () => /warning: Vault is not usable: /.test(agent!.stderr()), 60_000)).toBe(true);
      const refused = await call(agent.client, 'get_secret', { namespace: 'ops', key: 'K' });
      expect(refused.ok).toBe(false);
      if (!refused.ok) {
        expect(refused.code).toBe('BACKEND_UNAVAILABLE');
        expect(refused.error).toMatch(/Vault/);
      }
      for (const output of [agent.stderr(), JSON.stringify(refused)]) expect(output).not.toContain(secretId);
    } finally {
      await agent?.close();
      for (const socket of sockets) socket.destroy();
      hung.close();
    }
  }, 180_000);

  it('a Vault token variable that is not set: initialize answered, then the config error with its code on stderr and to the call', async () => {
    const home = await initHome({ backend: { type: 'vault', address: 'http://127.0.0.1:9', mount: 'secret', kv_version: 2, auth: { method: 'token', token_env: 'TEST_VAULT_TOKEN_UNSET' } } });
    homes.push(home);
    const agent = await connectAgent(home.configPath, home.agentKey);
    try {
      expect(await pollUntil(async () => /warning: Vault is not usable: /.test(agent.stderr()), 60_000)).toBe(true);
      expect(agent.stderr()).toMatch(/TEST_VAULT_TOKEN_UNSET; it is not set\. \[CONFIG_INVALID\] The server keeps serving; calls that need Vault fail with CONFIG_INVALID until it is fixed/);
      const refused = await call(agent.client, 'get_secret', { namespace: 'ops', key: 'K' });
      expect(refused).toMatchObject({ ok: false, code: 'CONFIG_INVALID' });
    } finally {
      await agent.close();
    }
  }, 120_000);
});
