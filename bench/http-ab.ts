/**
 * Interleaved A/B of streamable HTTP under concurrent clients: the bare SDK server (constant
 * tool) and one or more builds of `serve --http` (file backend, audit on), each its own process
 * with its own data directory, take turns at `clients` SDK clients × `calls` get_secret, the
 * order rotating every round. For each turn it reports calls/s, p99 of the calls and the
 * server's CPU time per call read from /proc/<pid>/stat (user + sys): on a shared machine CPU
 * per call is far steadier than calls/s, which moves with everything else running.
 *
 *   node --import tsx bench/http-ab.ts --build old=<checkout> --build new=. [--clients 16] [--calls 150] [--rounds 6] [--cpu-prof-dir DIR]
 *
 * With --cpu-prof-dir, each build's server writes a V8 CPU profile there when it exits.
 *
 * A build is a checkout whose `dist/` is built (`npm run build`). Linux only (/proc).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { mcpClient, start } from './remote.js';

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** The process's user + system CPU time so far, in µs. */
function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ", field 3 (state) is index 0: utime is field 14, stime field 15.
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_S) * 1e6;
}

interface Peer {
  name: string;
  child: ChildProcess;
  clients: Client[];
}

interface Turn {
  callsPerS: number;
  p99Ms: number;
  cpuUsPerCall: number;
}

const ARGS = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };

async function turn(peer: Peer, calls: number): Promise<Turn> {
  const latencies: number[] = [];
  const cpu0 = cpuMicros(peer.child.pid!);
  const t0 = performance.now();
  await Promise.all(peer.clients.map(async (c) => {
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      await c.callTool({ name: 'get_secret', arguments: ARGS });
      latencies.push(performance.now() - t);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuMicros(peer.child.pid!) - cpu0;
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return { callsPerS: n / seconds, p99Ms: latencies[Math.min(n - 1, Math.floor(n * 0.99))]!, cpuUsPerCall: cpu / n };
}

const range = (xs: number[], digits = 0): string => {
  const s = [...xs].sort((a, b) => a - b);
  const f = (x: number) => x.toFixed(digits);
  return `${f(s[Math.floor(s.length / 2)]!)} (${f(s[0]!)}–${f(s[s.length - 1]!)})`;
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { build: { type: 'string', multiple: true }, clients: { type: 'string', default: '16' }, calls: { type: 'string', default: '150' }, rounds: { type: 'string', default: '6' }, 'cpu-prof-dir': { type: 'string' } } });
  const builds = (values.build ?? []).map((b) => {
    const eq = b.indexOf('=');
    if (eq < 1) throw new Error(`--build NAME=DIR, got ${b}`);
    return { name: b.slice(0, eq), dir: resolve(b.slice(eq + 1)) };
  });
  if (builds.length === 0) throw new Error('Give at least one --build NAME=DIR (a checkout with dist/ built).');
  const clients = Number(values.clients);
  const calls = Number(values.calls);
  const rounds = Number(values.rounds);
  const tmp = mkdtempSync(join(tmpdir(), 'ass-http-ab-'));
  const peers: Peer[] = [];
  try {
    const bare = await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'remote-peers.ts'), 'bare-sdk']);
    peers.push({ name: 'bare', child: bare.child, clients: await Promise.all(Array.from({ length: clients }, () => mcpClient(bare.port, {}))) });
    for (const build of builds) {
      const cli = join(build.dir, 'dist', 'cli', 'main.js');
      const init = JSON.parse(execFileSync(process.execPath, [cli, 'init', '--dir', join(tmp, build.name), '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
      // The rate limit is measured on, not out: raised so that it never refuses.
      appendFileSync(init.config_path, '\nhttp:\n  rate_limit:\n    per_minute: 100000000\n    burst: 1000000\n');
      const prof = values['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof-dir'])}`] : [];
      const server = await start(process.execPath, [...prof, cli, '--config', init.config_path, 'serve', '--http', '--port', '0'], { ASS_LOG_LEVEL: 'warn' });
      const headers = { 'x-agent-key': init.agent_key };
      const all = await Promise.all(Array.from({ length: clients }, () => mcpClient(server.port, headers)));
      await all[0]!.callTool({ name: 'set_secret', arguments: { ...ARGS, value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } } });
      peers.push({ name: build.name, child: server.child, clients: all });
    }
    for (const peer of peers) await turn(peer, 30); // warm-up (JIT, caches)
    const results = new Map<string, Turn[]>(peers.map((p) => [p.name, []]));
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = peers.map((_, i) => peers[(i + r) % peers.length]!);
      if (r % 2 === 1) order.reverse();
      for (const peer of order) results.get(peer.name)!.push(await turn(peer, calls));
      loads.push(loadavg()[0]!);
    }
    const bareTurns = results.get('bare')!;
    const first = builds[0]!.name;
    const firstTurns = results.get(first)!;
    const lines = [
      `${clients} clients × ${calls} get_secret, ${rounds} interleaved rounds; load average (1 min) ${range(loads, 1)}`,
      '',
      `| server | calls/s | p99 ms | CPU µs/call | calls/s ÷ bare | p99 ÷ bare | CPU ÷ bare | CPU ÷ ${first} |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ];
    for (const peer of peers) {
      const t = results.get(peer.name)!;
      const per = (base: Turn[], f: (x: Turn, b: Turn) => number) => t.map((x, i) => f(x, base[i]!));
      const cpu = (x: Turn, b: Turn) => x.cpuUsPerCall / b.cpuUsPerCall;
      lines.push(`| ${peer.name} | ${range(t.map((x) => x.callsPerS))} | ${range(t.map((x) => x.p99Ms), 2)} | ${range(t.map((x) => x.cpuUsPerCall))} | ${range(per(bareTurns, (x, b) => x.callsPerS / b.callsPerS), 2)} | ${range(per(bareTurns, (x, b) => x.p99Ms / b.p99Ms), 2)} | ${range(per(bareTurns, cpu), 2)} | ${range(per(firstTurns, cpu), 3)} |`);
    }
    lines.push('', 'Each cell: median of the rounds (lowest–highest); ratios are taken round by round.');
    process.stdout.write(`${lines.join('\n')}\n`);
    for (const peer of peers) await Promise.all(peer.clients.map((c) => c.close()));
  } finally {
    for (const peer of peers) peer.child.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
