/**
 * Interleaved A/B of stdio `get_secret` on the file backend: the bare SDK server, another build
 * of this project (`--base <checkout>`, its `dist/` built) and this build serve one call each in
 * turn from one client process, so the machine's load falls on all three alike. Reports p50/p99
 * per server, the ratio to the bare server, and each server's CPU time per call (user + sys from
 * /proc/<pid>/stat, Linux), which is steadier than latency on a loaded machine.
 *
 *   node --import tsx bench/ab-stdio.ts --base ../other-checkout [--calls 3000] [--rounds 3]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseDocument } from 'yaml';

const argv = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const at = argv.indexOf(`--${name}`);
  return at >= 0 ? argv[at + 1] : undefined;
};
const base = option('base');
if (!base) {
  process.stderr.write('usage: node --import tsx bench/ab-stdio.ts --base <checkout with dist/ built> [--calls N] [--rounds R]\n');
  process.exit(2);
}
const calls = Number(option('calls') ?? 3000);
const rounds = Number(option('rounds') ?? 3);
const TICKS = 100; // USER_HZ on Linux

type Server = { name: string; client: Client; pid: number; times: number[] };

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS;
}

async function start(name: string, command: string, args: string[], env: Record<string, string>): Promise<Server> {
  const client = new Client({ name: 'ab', version: '1' });
  const transport = new StdioClientTransport({ command, args, env: { ...(process.env as Record<string, string>), ...env }, stderr: 'ignore' });
  await client.connect(transport);
  return { name, client, pid: transport.pid!, times: [] };
}

async function ours(name: string, cli: string, dir: string): Promise<Server> {
  const home = join(dir, name);
  const init = JSON.parse(execFileSync('node', [cli, 'init', '--dir', home, '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
  const doc = parseDocument(readFileSync(init.config_path, 'utf8'));
  doc.setIn(['server', 'rate_limit'], doc.createNode({ per_minute: 100_000_000, burst: 1_000_000 }));
  writeFileSync(init.config_path, doc.toString());
  const server = await start(name, 'node', [cli, '--config', init.config_path], { ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' });
  await server.client.callTool({ name: 'set_secret', arguments: { ...ARGS, value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } } });
  return server;
}

const ARGS = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };
const pct = (xs: number[], p: number): number => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};

async function call(server: Server): Promise<void> {
  const started = performance.now();
  const result = await server.client.callTool({ name: 'get_secret', arguments: ARGS });
  server.times.push(performance.now() - started);
  if (result.isError) throw new Error(`${server.name}: get_secret failed: ${JSON.stringify(result.content).slice(0, 300)}`);
}

const dir = mkdtempSync(join(tmpdir(), 'ass-ab-stdio-'));
const servers = [
  await start('bare', 'node', [join(import.meta.dirname, 'bare-stdio-server.mjs')], {}),
  await ours('base', join(resolve(base), 'dist', 'cli', 'main.js'), dir),
  await ours('new', join(import.meta.dirname, '..', 'dist', 'cli', 'main.js'), dir),
];
try {
  process.stdout.write(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) for (let i = 0; i < 100; i++) await call(s); // warm-up
    for (const s of servers) s.times = [];
    const cpu0 = servers.map((s) => cpuMs(s.pid));
    for (let i = 0; i < calls; i++) {
      // Rotate who goes first so no server always follows the same one.
      for (let j = 0; j < servers.length; j++) await call(servers[(i + j) % servers.length]!);
    }
    const cpu = servers.map((s, i) => ((cpuMs(s.pid) - cpu0[i]!) * 1000) / calls);
    const bare = servers[0]!;
    const line = servers.map((s, i) => `${s.name} p50 ${pct(s.times, 50).toFixed(3)} p99 ${pct(s.times, 99).toFixed(3)} ms (${(pct(s.times, 50) / pct(bare.times, 50)).toFixed(2)}× / ${(pct(s.times, 99) / pct(bare.times, 99)).toFixed(2)}×) cpu ${cpu[i]!.toFixed(0)} µs/call`);
    process.stdout.write(`round ${r + 1}: ${line.join(' | ')} | load ${loadavg()[0]!.toFixed(2)}\n`);
  }
} finally {
  for (const s of servers) await s.client.close();
  rmSync(dir, { recursive: true, force: true });
}
