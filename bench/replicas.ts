/**
 * Issue 10: get_secret throughput over streamable HTTP with one `serve --http` replica and with
 * two replicas on the same PostgreSQL state store (approvals, tokens, rate limits, the audit
 * chain), same client load: 16 SDK clients all on the one replica, or split 8 + 8 over the two.
 * The two set-ups are measured in interleaved rounds in the same run, as a ratio (two ÷ one).
 * The secrets are in one file store both replicas reach (a shared volume, as the replicas test).
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { parseDocument } from 'yaml';
import { loadOrCreateSigningKey } from '../src/approvals/tokens.js';
import { createAuditKey } from '../src/audit/audit-key.js';
import { postgresPeerMissing, startPostgresPeer } from '../test/helpers/postgres-peer.js';
import { mcpClient, start } from './remote.js';
import { figure, table } from './stats.js';

const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const cli = (): string[] => (process.env.ASS_BENCH_FROM_SRC === '1' ? ['--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts')] : [CLI]);

/** Calls per second of `clients` (already connected), `calls` get_secret each, all at once. */
async function throughput(clients: Client[], calls: number, args: Record<string, unknown>): Promise<number> {
  const t = performance.now();
  await Promise.all(clients.map(async (c) => {
    for (let i = 0; i < calls; i++) {
      const res = await c.callTool({ name: 'get_secret', arguments: args });
      if (res.isError) throw new Error(`get_secret failed during the replicas benchmark: ${JSON.stringify(res.content).slice(0, 300)}`);
    }
  }));
  return (clients.length * calls) / ((performance.now() - t) / 1000);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runReplicasBench(options: { clients?: number; perClient?: number; rounds?: number } = {}): Promise<string> {
  const clients = options.clients ?? 16;
  const perClient = options.perClient ?? 60;
  const rounds = options.rounds ?? 3;
  const missing = postgresPeerMissing();
  if (missing) return `### Replicas on PostgreSQL\n\nNot measured: ${missing}`;
  const peer = await startPostgresPeer();
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-replicas-'));
  const children: ChildProcess[] = [];
  const open: Client[] = [];
  try {
    const homeA = join(dir, 'a');
    const init = JSON.parse(execFileSync(process.execPath, [...cli(), 'init', '--dir', homeA, '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
    const doc = parseDocument(readFileSync(init.config_path, 'utf8'));
    // Both replicas: one secret store on a shared path, the state (and so the audit chain) in PostgreSQL.
    doc.setIn(['backend', 'path'], join(homeA, 'secrets'));
    doc.setIn(['backend', 'key_file'], join(homeA, 'store.key'));
    // The URL reaches the config through ${PG_URL}: the per-run password is never written to disk.
    doc.set('state', doc.createNode({ type: 'postgres', url: '${PG_URL}', migrate_on_start: true }));
    // The benchmark measures the pipeline and the shared state, not the limiter refusing calls
    // (each call still takes from its bucket in PostgreSQL).
    doc.set('http', doc.createNode({ rate_limit: { per_minute: 100_000_000, burst: 1_000_000 } }));
    writeFileSync(init.config_path, doc.toString());
    const homeB = join(dir, 'b');
    mkdirSync(homeB, { mode: 0o700 });
    const configB = join(homeB, 'config.yaml');
    copyFileSync(init.config_path, configB);
    // Shared keys, as docs/scale.md says: one token signing key, one audit key.
    await loadOrCreateSigningKey(join(homeA, 'token-signing.key'));
    createAuditKey(join(homeA, 'audit.key'), 1);
    for (const key of ['token-signing.key', 'audit.key']) copyFileSync(join(homeA, key), join(homeB, key));

    const env = { ASS_LOG_LEVEL: 'warn', PG_URL: await peer.newDatabase('replicas') };
    const a = await start(process.execPath, [...cli(), '--config', init.config_path, 'serve', '--http', '--port', '0'], env);
    children.push(a.child);
    const b = await start(process.execPath, [...cli(), '--config', configB, 'serve', '--http', '--port', '0'], env);
    children.push(b.child);

    const headers = { 'x-agent-key': init.agent_key };
    const args = { namespace: 'production/gemini', key: 'GEMINI_API_KEY' };
    const seed = await mcpClient(a.port, headers);
    open.push(seed);
    const set = await seed.callTool({ name: 'set_secret', arguments: { ...args, value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive' } });
    if (set.isError) throw new Error('seeding the replicas benchmark failed');

    // The same 16 sessions for every round: 16 on A (one replica), or 8 on A + 8 on B (two).
    const onA = await Promise.all(Array.from({ length: clients }, () => mcpClient(a.port, headers)));
    const onB = await Promise.all(Array.from({ length: clients / 2 }, () => mcpClient(b.port, headers)));
    open.push(...onA, ...onB);
    const one = onA;
    const two = [...onA.slice(0, clients / 2), ...onB];
    await throughput(two, 5, args); // warm-up of every session
    const samples = { one: [] as number[], two: [] as number[] };
    for (let r = 0; r < rounds; r++) {
      samples.one.push(await throughput(one, perClient, args));
      samples.two.push(await throughput(two, perClient, args));
    }
    const oneTput = median(samples.one);
    const twoTput = median(samples.two);
    return [
      `### Replicas: get_secret throughput over streamable HTTP, one replica vs two on one PostgreSQL (${clients} clients × ${perClient} calls, ${rounds} interleaved rounds, median)`,
      '',
      table([
        ['set-up', 'throughput', 'two ÷ one'],
        [`one replica (${clients} clients)`, `${Math.round(oneTput)} calls/s`, '1.00×'],
        [`two replicas (${clients / 2} + ${clients / 2} clients)`, `${Math.round(twoTput)} calls/s`, figure(`streamable HTTP get_secret throughput, two replicas vs one, ${clients} clients`, twoTput, oneTput, 'calls/s')],
      ]),
      '',
      `Rounds (calls/s): one ${samples.one.map(Math.round).join(', ')}; two ${samples.two.map(Math.round).join(', ')}. Every call takes from the agent's rate-limit bucket and appends to the audit chain in PostgreSQL (the test peer: loopback, fsync off). ` +
        'Both replicas, PostgreSQL and the clients share this machine\'s cores, so the ratio shows what a second replica adds when nothing else is free, not what it adds on its own machine.',
    ].join('\n');
  } finally {
    await Promise.all(open.map((c) => c.close().catch(() => undefined)));
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
    await peer.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/replicas.ts` runs this section alone.
if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await runReplicasBench()}\n`);
