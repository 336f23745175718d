/**
 * Soak over streamable HTTP: 20,000 mixed tool calls on one session against the built
 * `serve --http` process, the same mix and figures as the stdio soak (see helpers/soak.ts):
 * p99 of the last 10% within 1.3× of the first 10%, heap after GC within 10% of warm-up, no
 * process warnings, and the server's descriptors back to their count before any client
 * connected once the session is ended and the client's keep-alive sockets are gone.
 * The rate limit is raised in this config: the soak measures leaks, not the limiter.
 * ASS_SOAK_HTTP_CALLS overrides the count for a quick local try.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initHome, ok, pollUntil, removeHome, setConfig, type Home } from '../helpers/cli.js';
import { connectHttpAgent, startBuiltHttpServer, type BuiltHttpServer } from './helpers/http-server.js';
import { fdTargets, figure, GC_PROBE_NODE_ARGS, heapAfterGc, openFds } from './helpers/process-probe.js';
import { describeFigures, latencyFigures, processWarnings, runMix, SOAK_KEYS, type SoakFigures } from './helpers/soak.js';

const CALLS = Number(process.env.ASS_SOAK_HTTP_CALLS ?? 20_000);

let home: Home;
let probeDir: string;
let server: BuiltHttpServer | undefined;

beforeAll(async () => {
  home = await initHome();
  await setConfig(home.configPath, { 'http.rate_limit': { per_minute: 10_000_000, burst: 1_000_000 }, 'server.log_level': 'warn' });
  probeDir = mkdtempSync(path.join(tmpdir(), 'ass-soak-probe-'));
});

afterAll(async () => {
  await server?.stop();
  removeHome(home);
  if (probeDir) rmSync(probeDir, { recursive: true, force: true });
});

test(`HTTP soak: ${CALLS} calls on one streamable HTTP session keep latency, heap and descriptors flat`, { timeout: 900_000 }, async () => {
  const probeOut = path.join(probeDir, 'http-heap.json');
  server = await startBuiltHttpServer(home.configPath, { env: { ASS_TEST_GC_PROBE_OUT: probeOut }, nodeArgs: GC_PROBE_NODE_ARGS });
  const pid = server.pid;
  const fdsStart = openFds(pid);

  const agent = await connectHttpAgent(server.url, home.agentKey, 'soak-http');
  for (const target of SOAK_KEYS) await ok(agent.client, 'set_secret', { ...target, value: 'soak-initial' });
  const tenth = Math.floor(CALLS / 10);
  const first = await runMix(agent.client, 0, tenth);
  const fdsWarm = openFds(pid);
  const heapWarm = (await heapAfterGc(pid, probeOut)).heapUsed;
  const rest = await runMix(agent.client, tenth, CALLS);
  const heapEnd = (await heapAfterGc(pid, probeOut)).heapUsed;
  await agent.close();

  // The client's pooled keep-alive sockets close after their idle time (seconds); bounded wait.
  await pollUntil(async () => openFds(pid) <= fdsStart, 30_000, 250);
  const fdsEnd = openFds(pid);

  const figures: SoakFigures = { ...latencyFigures([...first, ...rest]), heapWarm, heapEnd, heapRatio: heapEnd / heapWarm, fdsWarm, fdsEnd };
  figure('soak-http', `${describeFigures(figures)} (before any client: ${fdsStart})`);

  expect(processWarnings(server.stderr()), 'warnings on the server stderr').toEqual([]);
  expect(fdsEnd, `descriptors after the session ended vs before it began:\n${fdTargets(pid).join('\n')}`).toBeLessThanOrEqual(fdsStart);
  expect(figures.heapRatio, 'heap after GC, end ÷ after warm-up').toBeLessThanOrEqual(1.1);
  expect(figures.p99Ratio, 'p99 of the last 10% ÷ p99 of the first 10%').toBeLessThanOrEqual(1.3);
});
