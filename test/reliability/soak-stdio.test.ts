/**
 * Soak over stdio: 100,000 mixed tool calls on ONE session, a real SDK Client over real pipes
 * to the built `dist/cli/main.js`. The figures, from the same run:
 *  - p99 latency of the last 10% of calls within 1.3× of the first 10% (beyond what the machine
 *    itself slowed, by a bare SDK server called between ours: helpers/machine-baseline.ts);
 *  - heap after a forced GC at the end within 10% of the heap after warm-up (the first 10%);
 *  - no MaxListenersExceeded (or any other process) warning on the server's stderr;
 *  - open file descriptors back to the warm-up count once the calls are done.
 * The heap is read through a test-only preload (helpers/gc-probe.cjs), not a product hook.
 * ASS_SOAK_CALLS overrides the count for a quick local try; `npm test` runs the full figure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { baseEnv, CLI, initHome, ok, REPO_ROOT, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { fdTargets, figure, GC_PROBE_NODE_ARGS, openFds } from './helpers/process-probe.js';
import { bareStdioBaseline } from './helpers/machine-baseline.js';
import { describeFigures, latencyFigures, perToolP99, processWarnings, runSoak, SOAK_KEYS, type SoakFigures } from './helpers/soak.js';

const CALLS = Number(process.env.ASS_SOAK_CALLS ?? 100_000);

let home: Home;
let probeDir: string;

beforeAll(async () => {
  home = await initHome();
  // A load test of one agent: the per-agent stdio rate limit and live-token cap (tested in
  // their own suites) are raised so that they are not what is measured.
  await setConfig(home.configPath, { 'server.rate_limit': { per_minute: 10_000_000, burst: 1_000_000 }, 'tokens.max_active_per_agent': 100_000 });
  probeDir = mkdtempSync(path.join(tmpdir(), 'ass-soak-probe-'));
});

afterAll(() => {
  removeHome(home);
  if (probeDir) rmSync(probeDir, { recursive: true, force: true });
});

test(`stdio soak: ${CALLS} calls on one session keep latency, heap and descriptors flat`, { timeout: 900_000 }, async () => {
  const probeOut = path.join(probeDir, 'stdio-heap.json');
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [...GC_PROBE_NODE_ARGS, CLI, '--config', home.configPath],
    env: baseEnv({ ASS_AGENT_KEY: home.agentKey, ASS_LOG_LEVEL: 'warn', ASS_TEST_GC_PROBE_OUT: probeOut }),
    cwd: REPO_ROOT,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => {
    // Keep what a warning would look like; bounded so a chatty server cannot exhaust the test.
    if (stderr.length < 1_000_000) stderr += d.toString('utf8');
  });
  const client = new Client({ name: 'soak-stdio', version: '1.0.0' });
  await client.connect(transport);
  const pid = transport.pid!;
  // The machine's own drift over the same calls: a bare SDK stdio server, called after every
  // fourth call of ours (2,500 samples a tenth).
  const baseline = await bareStdioBaseline(4);
  try {
    for (const target of SOAK_KEYS) await ok(client, 'set_secret', { ...target, value: 'soak-initial' });

    const { samples, heapCurve, fdsWarm } = await runSoak(client, pid, probeOut, CALLS, baseline);
    const fdsEnd = openFds(pid);
    const heapWarm = heapCurve[0]!;
    const heapEnd = heapCurve[9]!;
    const figures: SoakFigures = { ...latencyFigures(samples), heapWarm, heapEnd, heapRatio: heapEnd / heapWarm, heapCurve, fdsWarm, fdsEnd };
    figure('soak-stdio', describeFigures(figures));
    figure('soak-stdio', `p99 by tool, first → last 10%: ${perToolP99(samples)}`);

    expect(processWarnings(stderr), 'warnings on the server stderr').toEqual([]);
    expect(fdsEnd, `descriptors at the end vs after warm-up:\n${fdTargets(pid).join('\n')}`).toBeLessThanOrEqual(fdsWarm);
    expect(figures.heapRatio, 'heap after GC, end ÷ after warm-up').toBeLessThanOrEqual(1.1);
    expect(figures.serverP99Ratio, `p99 of the last 10% ÷ p99 of the first 10% (raw ${figures.p99Ratio.toFixed(2)}), over the bare baseline's own ${figures.machineP99Ratio.toFixed(2)} when the machine got slower`).toBeLessThanOrEqual(1.3);
  } finally {
    await baseline.close();
    await client.close();
  }
});
