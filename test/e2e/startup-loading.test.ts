/**
 * What the built CLI (`dist/cli/main.js`, one bundled entry with chunks since issue 14) loads
 * and serves: a file-backend stdio server starts and answers without loading the vendor
 * clients, the PostgreSQL driver, the HTTP stack or ajv (each costs start-up, and MCP clients
 * spawn a server per session); and the bundled `serve --http` still finds the dashboard's assets.
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectAgent, initHome, ok, removeHome, REPO_ROOT, tempDir, type Home } from '../helpers/cli.js';
import { spawnHttpServer } from '../helpers/remote-server.js';

let home: Home;

beforeAll(async () => {
  home = await initHome();
}, 120_000);

afterAll(() => removeHome(home));

describe('the built CLI', () => {
  it('a file-backend stdio server answers initialize and get_secret without loading pg, node-vault, the AWS SDK, prom-client, hono or ajv', async () => {
    const log = path.join(await tempDir('ass-modlog-'), 'modules.txt');
    const agent = await connectAgent(home.configPath, home.agentKey, {
      env: { NODE_OPTIONS: `--import=${path.join(REPO_ROOT, 'test/helpers/module-log.mjs')}`, ASS_MODULE_LOG: log },
    });
    try {
      await ok(agent.client, 'set_secret', { namespace: 'load/check', key: 'K', value: 'v'.repeat(16) });
      expect((await ok(agent.client, 'get_secret', { namespace: 'load/check', key: 'K' })).value).toBe('v'.repeat(16));
    } finally {
      await agent.close();
    }
    const loaded = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    rmSync(path.dirname(log), { recursive: true, force: true });
    // The log works: it saw the CLI itself, its chunks, and a `require` made by bundled CommonJS
    // code (commander's require("events"), through the bundle's createRequire).
    expect(loaded.some((m) => m.endsWith('/dist/cli/main.js'))).toBe(true);
    expect(loaded.some((m) => /\/dist\/chunks\/[^/]+\.js$/.test(m))).toBe(true);
    expect(loaded).toContain('events');
    // Everything the server needs is in the bundle: nothing at all from node_modules. Above all
    // not the vendor clients, the PostgreSQL driver, the HTTP stack, nor ajv, which the MCP SDK
    // loads at start-up but a stdio server never uses (src/server/lazy-ajv-validator.ts).
    const fromNodeModules = loaded.filter((m) => m.includes('/node_modules/'));
    expect(fromNodeModules).toEqual([]);
    // And no bundled chunk of a backend or of the HTTP server (chunks named after their entry).
    const lazyChunks = loaded.filter((m) => /\/dist\/chunks\/(aws|vault|ass|postgres|server|app|otel|bowser|event-streams)-[^/]+\.js$/.test(m));
    expect(lazyChunks).toEqual([]);
  }, 120_000);

  it('serve --http serves the dashboard assets shipped beside the bundle', async () => {
    const server = await spawnHttpServer(home.configPath);
    try {
      for (const name of ['app.js', 'app.css', 'favicon.svg']) {
        const res = await fetch(`${server.url}/dashboard/assets/${name}`);
        expect(res.status, name).toBe(200);
        expect(await res.text()).toBe(readFileSync(path.join(REPO_ROOT, 'src/dashboard/assets', name), 'utf8'));
      }
    } finally {
      await server.stop();
    }
  }, 120_000);
});
