/**
 * A running `serve --http` follows its config file (src/server/live-settings.ts): an agent
 * added with `agents add`, a grant changed in an open session, an agent removed, all count at
 * the next request without a restart; a config that no longer validates is refused with a
 * logged error and the previous one stays in force. Real processes, a real MCP client over
 * streamable HTTP.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parseDocument } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addAgent, admin, call, connectAgent, initHome, ok, pollUntil, removeHome, type Home } from '../helpers/cli.js';
import { startServing, type ServedDashboard } from '../helpers/browser.js';

async function mcpClient(served: ServedDashboard, agentKey: string): Promise<Client> {
  const client = new Client({ name: 'config-reload', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`${served.origin}/mcp`), { requestInit: { headers: { 'x-agent-key': agentKey } } }));
  return client;
}

/** Edits the config file in place as a person with an editor would (no validation first). */
function editConfig(home: Home, edit: (doc: ReturnType<typeof parseDocument>) => void): void {
  const doc = parseDocument(readFileSync(home.configPath, 'utf8'));
  edit(doc);
  writeFileSync(home.configPath, doc.toString(), { mode: 0o600 });
}

function agentIndex(home: Home, id: string): number {
  const doc = parseDocument(readFileSync(home.configPath, 'utf8')).toJS() as { agents: { id: string }[] };
  return doc.agents.findIndex((a) => a.id === id);
}

describe('serve --http follows its config file without a restart', () => {
  let home: Home;
  let served: ServedDashboard;

  beforeAll(async () => {
    home = await initHome();
    for (const [ns, key] of [['team/a', 'A_KEY'], ['team/b', 'B_KEY']] as const) {
      const set = await admin(home, ['secrets', 'set', ns, key], { input: `value-${key}` });
      if (set.code !== 0) throw new Error(set.stderr);
    }
    served = await startServing(home.configPath, 'serve');
  }, 180_000);

  afterAll(async () => {
    await served?.stop();
    removeHome(home);
  });

  it('an agent added with `agents add` works at once; a grant changed applies to its open session', async () => {
    const key = await addAgent(home, 'late', ['secrets:read:team/a/**']);
    const client = await mcpClient(served, key);
    // The same agent over stdio: a server process started before the edits.
    const stdio = await connectAgent(home.configPath, key);
    try {
      for (const c of [client, stdio.client]) {
        expect((await ok(c, 'get_secret', { namespace: 'team/a', key: 'A_KEY' })).value).toBe('value-A_KEY');
        expect((await call(c, 'get_secret', { namespace: 'team/b', key: 'B_KEY' })).ok).toBe(false);
      }
      // Same sessions, grant widened in the file: the next call sees it.
      editConfig(home, (doc) => doc.setIn(['agents', agentIndex(home, 'late'), 'grants'], doc.createNode(['secrets:read:team/**'])));
      for (const c of [client, stdio.client]) expect((await ok(c, 'get_secret', { namespace: 'team/b', key: 'B_KEY' })).value).toBe('value-B_KEY');
      // And narrowed again: refused at the next call.
      editConfig(home, (doc) => doc.setIn(['agents', agentIndex(home, 'late'), 'grants'], doc.createNode(['secrets:read:team/a/**'])));
      for (const c of [client, stdio.client]) expect((await call(c, 'get_secret', { namespace: 'team/b', key: 'B_KEY' })).ok).toBe(false);
      // Removed from the file (not revoked): refused over HTTP (each request authenticates) and
      // in the stdio session that authenticated at its start.
      editConfig(home, (doc) => doc.deleteIn(['agents', agentIndex(home, 'late')]));
      const overHttp = await call(client, 'get_secret', { namespace: 'team/a', key: 'A_KEY' });
      expect(overHttp.ok ? '' : overHttp.error).toMatch(/Unknown agent key/);
      const overStdio = await call(stdio.client, 'get_secret', { namespace: 'team/a', key: 'A_KEY' });
      expect(overStdio.ok ? '' : overStdio.error).toMatch(/no longer in the server's config/);
      await expect(mcpClient(served, key)).rejects.toThrow(/Unknown agent key/);
    } finally {
      await client.close().catch(() => undefined);
      await stdio.close();
    }
  });

  it('a config that no longer validates is refused with a logged error; the previous one stays until it is fixed', async () => {
    const key = await addAgent(home, 'steady', ['secrets:read:team/a/**']);
    const client = await mcpClient(served, key);
    try {
      expect((await ok(client, 'get_secret', { namespace: 'team/a', key: 'A_KEY' })).value).toBe('value-A_KEY');
      const good = readFileSync(home.configPath, 'utf8');
      // Broken: an unknown tier effect, and the agent's grant widened in the same edit.
      editConfig(home, (doc) => {
        doc.setIn(['policy', 'tiers', 'critical'], 'approve');
        doc.setIn(['agents', agentIndex(home, 'steady'), 'grants'], doc.createNode(['secrets:read:team/**']));
      });
      // The edit is refused as a whole: the old grants stay in force, the agent keeps working.
      expect((await call(client, 'get_secret', { namespace: 'team/b', key: 'B_KEY' })).ok).toBe(false);
      expect((await ok(client, 'get_secret', { namespace: 'team/a', key: 'A_KEY' })).value).toBe('value-A_KEY');
      expect(await pollUntil(async () => /config change refused/.test(served.stderr()), 30_000)).toBe(true);
      const logged = served.stderr().split('\n').find((l) => l.includes('config change refused'))!;
      expect(logged).toMatch(/approval/); // says what is valid
      expect(logged).not.toContain(key);
      // Fixed: the widened grant now counts.
      editConfig(home, (doc) => {
        doc.setIn(['policy', 'tiers', 'critical'], 'approval');
      });
      expect((await ok(client, 'get_secret', { namespace: 'team/b', key: 'B_KEY' })).value).toBe('value-B_KEY');
      writeFileSync(home.configPath, good, { mode: 0o600 });
    } finally {
      await client.close();
    }
  });

  it('a change to a section wired at start-up is logged as needing a restart', async () => {
    editConfig(home, (doc) => doc.setIn(['tokens', 'max_ttl'], '12h'));
    expect(await pollUntil(async () => /apply only after a restart: tokens/.test(served.stderr()), 30_000)).toBe(true);
  });
});
