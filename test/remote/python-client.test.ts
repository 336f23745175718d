/** The Python MCP SDK as an independent second client, over SSE and streamable HTTP. */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allowMissingPeers, pythonMcp } from '../helpers/remote-peers.js';
import { REPO_ROOT, startInProcess, type InProcessServer } from '../helpers/remote-server.js';

const run = promisify(execFile);
const peer = pythonMcp();

if ('missing' in peer) {
  if (allowMissingPeers()) {
    console.warn(`[python-client] skipping: ${peer.missing}`);
    describe.skip(`Python MCP SDK client (skipped: ${peer.missing})`, () => undefined);
  } else {
    describe('Python MCP SDK client', () => {
      it('needs the Python MCP SDK peer', () => {
        throw new Error(`${peer.missing} Set ASS_ALLOW_MISSING_PEERS=1 to skip instead.`);
      });
    });
  }
} else {
  describe('Python MCP SDK client', () => {
    let server: InProcessServer;
    beforeAll(async () => {
      server = await startInProcess({ agents: [{ id: 'py', grants: ['secrets:*:python/**'] }] });
    });
    afterAll(async () => server?.close());

    for (const transport of ['sse', 'streamable'] as const) {
      it(`round-trips over ${transport}`, async () => {
        const value = `py-value-${transport}`;
        const { stdout } = await run(
          peer.python,
          [path.join(REPO_ROOT, 'scripts/python/mcp_client.py'), '--transport', transport, '--url', server.url, '--namespace', `python/${transport}`, '--key', 'TOKEN', '--value', value],
          { env: { PATH: process.env.PATH ?? '', ASS_AGENT_KEY: server.keys.py! }, timeout: 60_000 },
        );
        const out = JSON.parse(stdout.trim().split('\n').pop()!);
        expect(out.tools).toHaveLength(8);
        expect(out.set).toMatchObject({ namespace: `python/${transport}`, key: 'TOKEN', version: 1 });
        expect(out.get).toMatchObject({ value, version: 1 });
        expect(out.denied_is_error).toBe(true);
        expect(out.denied_text).toMatch(/Access denied/);
      });
    }

    it('fails without the right key', async () => {
      const error = await run(
        peer.python,
        [path.join(REPO_ROOT, 'scripts/python/mcp_client.py'), '--transport', 'streamable', '--url', server.url, '--namespace', 'python/x', '--key', 'K', '--value', 'v'],
        { env: { PATH: process.env.PATH ?? '', ASS_AGENT_KEY: 'ass_wrong' }, timeout: 60_000 },
      ).then(() => null, (e: unknown) => e as { code: number });
      expect(error?.code).toBe(1);
    });
  });
}
