/**
 * Deep links across real processes: while `serve --http` runs, the agent's stdio server (another
 * process) and the CLI point humans at its dashboard; once it stops, they stop doing so.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, approvalIdOf, connectAgent, fails, initHome, removeHome, type AgentConnection, type Home } from '../helpers/cli.js';
import { spawnHttpServer, type SpawnedServer } from '../helpers/remote-server.js';

let home: Home;
let agent: AgentConnection;
let server: SpawnedServer | undefined;

beforeAll(async () => {
  home = await initHome();
  for (const key of ['A', 'B']) {
    const seeded = await admin(home, ['secrets', 'set', 'prod/pay', key, '--tier', 'critical'], { input: 'v' });
    expect(seeded.code, seeded.stderr).toBe(0);
  }
  agent = await connectAgent(home.configPath, home.agentKey);
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await agent?.close();
  removeHome(home);
});

describe('links follow the dashboard a running serve --http serves', () => {
  it('while it runs, the stdio agent\'s answer and `approvals show` link its page; after it stops, no link', async () => {
    server = await spawnHttpServer(home.configPath);
    const first = await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'A' });
    const id = approvalIdOf(first.error);
    const page = `${server.url}/dashboard/approvals/${id}`;
    expect(first.error).toContain(`A human approves at ${page} or with \`agent-secret-store --config `);
    const shown = await admin(home, ['approvals', 'show', id]);
    expect(shown.stdout).toMatch(new RegExp(`page: +${page.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    await server.stop();
    server = undefined;
    const second = await fails(agent.client, 'get_secret', { namespace: 'prod/pay', key: 'B' });
    expect(second.error).toContain(`A human approves with \`agent-secret-store --config `);
    expect(second.error).not.toContain('/dashboard/');
    // No dashboard running: the person is told how to start one (with this setup's --config).
    expect(second.error).toMatch(/or in a browser after starting `agent-secret-store --config \S+ dashboard`\.$/);
    expect(first.error).not.toContain('after starting');
  });
});
