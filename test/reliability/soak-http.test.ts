/**
 * Soak over streamable HTTP: 20,000 mixed tool calls on one session against the built
 * `serve --http` process, the same mix and figures as the stdio soak (see helpers/soak.ts):
 * p99 of the last 10% within 1.3× of the first 10% (beyond what the machine itself slowed: see
 * helpers/machine-baseline.ts), heap after GC within 10% of warm-up, no
 * process warnings, and the server's descriptors back to their count at the start (session
 * open, after the first writes). Every request goes on its own connection (`connection:
 * close`), so 20,000 connections are opened and closed and no client pool hides a leak.
 * The rate limit is raised in this config: the soak measures leaks, not the limiter.
 * ASS_SOAK_HTTP_CALLS overrides the count for a quick local try.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initHome, ok, pollUntil, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { connectHttpAgent, startBuiltHttpServer, type BuiltHttpServer } from './helpers/http-server.js';
import { fdTargets, figure, GC_PROBE_NODE_ARGS, openFds } from './helpers/process-probe.js';
import { bareHttpBaseline, type MachineBaseline } from './helpers/machine-baseline.js';
import { describeFigures, latencyFigures, perToolP99, processWarnings, runSoak, SOAK_KEYS, type SoakFigures } from './helpers/soak.js';

const CALLS = Number(process.env.ASS_SOAK_HTTP_CALLS ?? 20_000);

let home: Home;
let probeDir: string;
let server: BuiltHttpServer | undefined;
let baseline: MachineBaseline | undefined;

beforeAll(async () => {
  home = await initHome();
  await setConfig(home.configPath, { 'http.rate_limit': { per_minute: 10_000_000, burst: 1_000_000 }, 'tokens.max_active_per_agent': 100_000, 'server.log_level': 'warn' });
  probeDir = mkdtempSync(path.join(tmpdir(), 'ass-soak-probe-'));
});

afterAll(async () => {
  await baseline?.close();
  await server?.stop();
  removeHome(home);
  if (probeDir) rmSync(probeDir, { recursive: true, force: true });
});

test(`HTTP soak: ${CALLS} calls on one streamable HTTP session keep latency, heap and descriptors flat`, { timeout: 900_000 }, async () => {
  const probeOut = path.join(probeDir, 'http-heap.json');
  server = await startBuiltHttpServer(home.configPath, { env: { ASS_TEST_GC_PROBE_OUT: probeOut }, nodeArgs: GC_PROBE_NODE_ARGS });
  const pid = server.pid;

  // Each request on its own connection (closed after the answer): 20,000 connections opened
  // and closed, and no client keep-alive pool holding server descriptors at the end.
  const agent = await connectHttpAgent(server.url, home.agentKey, 'soak-http', { closeConnections: true });
  for (const target of SOAK_KEYS) await ok(agent.client, 'set_secret', { ...target, value: 'soak-initial' });
  // The start count: session open, the audit log opened by the writes above, no request in flight.
  // Connections just closed may still be counted: take the lowest count seen over a short settle.
  let fdsStart = openFds(pid);
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 100));
    fdsStart = Math.min(fdsStart, openFds(pid));
  }
  // The machine's own drift over the same calls: a bare SDK HTTP server, called after every
  // second call of ours (1,000 samples a tenth).
  baseline = await bareHttpBaseline(2);
  const { samples, heapCurve, fdsWarm } = await runSoak(agent.client, pid, probeOut, CALLS, baseline);
  const heapWarm = heapCurve[0]!;
  const heapEnd = heapCurve[9]!;
  // Closed connections are released as the server sees each close: a bounded wait for that.
  await pollUntil(async () => openFds(pid) <= fdsStart, 30_000, 250);
  const fdsEnd = openFds(pid);
  const fdTable = fdTargets(pid).join('\n');
  await agent.close();

  const figures: SoakFigures = { ...latencyFigures(samples), heapWarm, heapEnd, heapRatio: heapEnd / heapWarm, heapCurve, fdsWarm, fdsEnd };
  figure('soak-http', `${describeFigures(figures)} (start, after the first writes: ${fdsStart})`);
  figure('soak-http', `p99 by tool, first → last 10%: ${perToolP99(samples)}`);

  expect(processWarnings(server.stderr()), 'warnings on the server stderr').toEqual([]);
  expect(fdsEnd, `descriptors at the end vs at the start:\n${fdTable}`).toBeLessThanOrEqual(fdsStart);
  expect(figures.heapRatio, 'heap after GC, end ÷ after warm-up').toBeLessThanOrEqual(1.1);
  expect(figures.serverP99Ratio, `p99 of the last 10% ÷ p99 of the first 10% (raw ${figures.p99Ratio.toFixed(2)}), over the bare baseline's own ${figures.machineP99Ratio.toFixed(2)} when the machine got slower`).toBeLessThanOrEqual(1.3);
});
