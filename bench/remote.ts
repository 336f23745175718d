import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { figure, measure, ms, ratio, table, type Summary } from './stats.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
/** `npm run bench` builds dist/ first; ASS_BENCH_FROM_SRC=1 runs the CLI from src/ through tsx instead. */
const cli = (): string[] => (process.env.ASS_BENCH_FROM_SRC === '1' ? ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')] : [CLI]);

/** Starts a child and resolves with the port it reports (`port N` on stdout, or `listening on URL` on stderr). */
export function start(command: string, args: string[], env: Record<string, string> = {}): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(command, args, { cwd: ROOT, env: { ...(process.env as Record<string, string>), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const seen = (d: Buffer) => {
      out += d.toString('utf8');
      const m = /port (\d+)|listening on \S+:(\d+)/.exec(out);
      if (m) resolve({ child, port: Number(m[1] ?? m[2]) });
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', seen);
    child.once('exit', (code) => reject(new Error(`bench peer exited (${code}): ${out.slice(0, 500)}`)));
  });
}

export async function mcpClient(port: number, headers: Record<string, string>): Promise<Client> {
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers } }));
  return client;
}

/** One keep-alive POST of `body` to the echo server. */
function echoCall(agent: Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `clients` SDK clients, `calls` get_secret each, all at once: calls per second. */
async function throughput(port: number, headers: Record<string, string>, clients: number, calls: number, args: object): Promise<number> {
  const all = await Promise.all(Array.from({ length: clients }, () => mcpClient(port, headers)));
  const t = performance.now();
  await Promise.all(all.map(async (c) => {
    for (let i = 0; i < calls; i++) await c.callTool({ name: 'get_secret', arguments: args as Record<string, unknown> });
  }));
  const seconds = (performance.now() - t) / 1000;
  await Promise.all(all.map((c) => c.close()));
  return (clients * calls) / seconds;
}

/**
 * Streamable HTTP get_secret on `serve --http` (file backend, audit on) against, in the same
 * run: a raw node:http keep-alive echo of the same request, and a bare SDK streamable HTTP
 * server whose tool returns a constant; plus throughput with 16 concurrent clients.
 * Each server is its own process; the samples are interleaved in rounds so noise falls on all.
 * Returns a markdown section.
 */
export async function runRemoteBench(options: { calls?: number; concurrent?: number; perClient?: number } = {}): Promise<string> {
  const calls = options.calls ?? 2000;
  const concurrent = options.concurrent ?? 16;
  const perClient = options.perClient ?? 200;
  const dir = mkdtempSync(join(tmpdir(), 'ass-remote-bench-'));
  const init = JSON.parse(execFileSync(process.execPath, [...cli(), 'init', '--dir', join(dir, 'home'), '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
  // The benchmark measures the pipeline, not the rate limiter.
  appendFileSync(init.config_path, '\nhttp:\n  rate_limit:\n    per_minute: 100000000\n    burst: 1000000\n');
  const children: ChildProcess[] = [];
  try {
    const ours = await start(process.execPath, [...cli(), '--config', init.config_path, 'serve', '--http', '--port', '0'], { ASS_LOG_LEVEL: 'warn' });
    const bare = await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'remote-peers.ts'), 'bare-sdk']);
    const echo = await start(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'remote-peers.ts'), 'echo']);
    children.push(ours.child, bare.child, echo.child);

    const headers = { 'x-agent-key': init.agent_key };
    const args = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };
    const oursClient = await mcpClient(ours.port, headers);
    const bareClient = await mcpClient(bare.port, {});
    await oursClient.callTool({ name: 'set_secret', arguments: { ...args, value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: { team: 'ml' } } });
    const echoAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const echoBody = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_secret', arguments: args } });

    const rounds = 4;
    const samples = { ours: [] as Summary[], bare: [] as Summary[], echo: [] as Summary[], oursList: [] as Summary[], bareList: [] as Summary[] };
    for (let r = 0; r < rounds; r++) {
      samples.echo.push(await measure(calls / rounds, 50, () => echoCall(echoAgent, echo.port, echoBody)));
      samples.bare.push(await measure(calls / rounds, 50, () => bareClient.callTool({ name: 'get_secret', arguments: args })));
      samples.ours.push(await measure(calls / rounds, 50, () => oursClient.callTool({ name: 'get_secret', arguments: args })));
      // tools/list never reaches the pipeline: it isolates the HTTP layer (guard, auth, sessions).
      // A raw request, not client.listTools(): that also compiles a validator for every output
      // schema on the client (~3 ms for our eight), which is the client's cost, not the server's.
      samples.bareList.push(await measure(calls / rounds / 4, 20, () => bareClient.request({ method: 'tools/list' }, ListToolsResultSchema)));
      samples.oursList.push(await measure(calls / rounds / 4, 20, () => oursClient.request({ method: 'tools/list' }, ListToolsResultSchema)));
    }
    // Median of the rounds' percentiles.
    const mid = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const agg = (s: Summary[]) => ({ p50: mid(s.map((x) => x.p50)), p99: mid(s.map((x) => x.p99)) });
    const o = agg(samples.ours);
    const b = agg(samples.bare);
    const e = agg(samples.echo);
    const ol = agg(samples.oursList);
    const bl = agg(samples.bareList);
    await oursClient.close();
    await bareClient.close();
    echoAgent.destroy();

    const oursTput = await throughput(ours.port, headers, concurrent, perClient, args);
    const bareTput = await throughput(bare.port, {}, concurrent, perClient, args);

    return [
      `### Remote: streamable HTTP get_secret (${calls} calls, ${rounds} interleaved rounds; ${concurrent} clients × ${perClient} calls for throughput)`,
      '',
      table([
        ['', 'p50', 'p99', 'ours ÷ it (p50)', 'ours ÷ it (p99)', `throughput, ${concurrent} clients`],
        ['raw node:http keep-alive echo', ms(e.p50), ms(e.p99), figure('streamable HTTP get_secret p50 vs raw node:http echo', o.p50, e.p50, 'ms', { max: 12 }), ratio(o.p99, e.p99), '—'],
        ['bare SDK streamable HTTP, constant tool', ms(b.p50), ms(b.p99), figure('streamable HTTP get_secret p50 vs bare SDK HTTP server', o.p50, b.p50, 'ms', { max: 1.15 }), figure('streamable HTTP get_secret p99 vs bare SDK HTTP server', o.p99, b.p99, 'ms', { max: 1.3 }), `${Math.round(bareTput)} calls/s`],
        ['agent-secret-store `serve --http` (file backend, audit)', ms(o.p50), ms(o.p99), '1.00×', '1.00×', `${Math.round(oursTput)} calls/s (${figure(`streamable HTTP throughput, ${concurrent} clients, vs bare SDK HTTP server`, oursTput, bareTput, 'calls/s', { min: 0.9 })} of bare)`],
      ]),
      '',
      `HTTP layer alone (tools/list, no pipeline): ours ${ms(ol.p50)} vs bare SDK ${ms(bl.p50)} at p50 (${ratio(ol.p50, bl.p50)}; ours lists 8 tools with full schemas, bare 1).`,
      '',
      'Targets: ours ≤ 12× the echo (stretch ≤ 6×) and ≤ 1.15× the bare SDK server at p50 (issue 3); p99 ≤ 1.3× and throughput ≥ 0.9× the bare SDK server with 16 clients (issue 14).',
    ].join('\n');
  } finally {
    for (const c of children) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/remote.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(`${await runRemoteBench()}\n`);
}
