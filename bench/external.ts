import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseDocument } from 'yaml';
import { startAwsPeer } from '../test/helpers/aws-peer.js';
import { startVaultPeer } from '../test/helpers/vault-peer.js';
import { figure, measure, ms, peakRssMiB, table } from './stats.js';
import { nodeStartup, spawnToInitialize } from './core.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

interface Peer {
  kind: string;
  label: string;
  /** The backend's read cache block, when the backend has one (issue 14). */
  cache?: Record<string, unknown>;
  backend: Record<string, unknown>;
  env: Record<string, string>;
  /** Reads the proxy's secret straight from the backend with the vendor's own client. */
  directRead(name: { namespace: string; key: string; prefix: string }): Promise<unknown>;
  stop(): Promise<void>;
}

interface Proxy {
  client: Client;
  pid: () => number | null;
}

/** A fresh stdio server process: ours on `config` (with `env`), or the bare SDK server. */
async function spawnServer(args: string[], env: Record<string, string>): Promise<Proxy> {
  const client = new Client({ name: 'bench', version: '1' });
  const transport = new StdioClientTransport({ command: 'node', args, env: { ...(process.env as Record<string, string>), ...env }, stderr: 'ignore' });
  await client.connect(transport);
  return { client, pid: () => transport.pid };
}

/** A config for this peer's backend (with `cache` when given), written by `init`. */
function configFor(peer: Peer, cache?: Record<string, unknown>): { config_path: string; agent_key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-ext-'));
  const init = JSON.parse(execFileSync('node', [CLI, 'init', '--dir', join(dir, 'home'), '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
  const doc = parseDocument(readFileSync(init.config_path, 'utf8'));
  doc.set('backend', doc.createNode(cache ? { ...peer.backend, cache } : peer.backend));
  // The benchmark measures the pipeline, not the stdio rate limiter.
  doc.setIn(['server', 'rate_limit'], doc.createNode({ per_minute: 100_000_000, burst: 1_000_000 }));
  writeFileSync(init.config_path, doc.toString());
  return init;
}

/**
 * Our stdio proxy against the vendor client reading the same secret from the same server, both
 * cold (a fresh process and a fresh client, no warm-up: the "first 1,000 reads"); the
 * proxy's peak RSS against the bare SDK stdio server's over the same number of calls; and, when
 * the backend has a read cache, the proxy with `cache` on against the vendor client.
 */
async function benchPeer(peer: Peer, prefix: string, n: number): Promise<string[][]> {
  const init = configFor(peer);
  const ours = await spawnServer([CLI, '--config', init.config_path], { ...peer.env, ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' });
  const args = { namespace: 'bench/read', key: 'API_KEY' };
  const set = await ours.client.callTool({ name: 'set_secret', arguments: { ...args, value: 'x'.repeat(64), access_tier: 'sensitive' } });
  if (set.isError) throw new Error(`seeding the ${peer.label} benchmark failed`);
  await ours.client.close();
  // Issue 14 target 1 "with every configured backend": spawn -> initialize answered on this
  // backend, each spawn beside a `node -e 0` spawned in turn (10 of each, medians).
  const nodeStart: number[] = [];
  const oursStart: number[] = [];
  for (let i = 0; i < 10; i++) {
    nodeStart.push(await nodeStartup());
    oursStart.push(await spawnToInitialize('node', [CLI, '--config', init.config_path], { ...peer.env, ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' }));
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const startRow = [`start-up on the ${peer.kind} backend: spawn to the answer to initialize (10 spawns, median) vs \`node -e 0\` spawned to exit`, ms(median(oursStart)), ms(median(nodeStart)), figure(`start-up: spawn to initialize answered vs node -e 0 (${peer.kind} backend)`, median(oursStart), median(nodeStart), 'ms', { max: 2.5 }), '—', '—', '—', '≤ 2.50×'];
  // Both cold: a fresh proxy process, a fresh vendor client.
  const fresh = await spawnServer([CLI, '--config', init.config_path], { ...peer.env, ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' });
  const read = (p: Proxy) => async () => {
    const res = await p.client.callTool({ name: 'get_secret', arguments: args });
    if (res.isError) throw new Error('get_secret failed during the benchmark');
  };
  const proxied = await measure(n, 0, read(fresh));
  const direct = await measure(n, 0, () => peer.directRead({ ...args, prefix }));
  const bare = await spawnServer([join(import.meta.dirname, 'bare-stdio-server.mjs')], {});
  await measure(n, 0, () => bare.client.callTool({ name: 'get_secret', arguments: args }));
  const oursRss = peakRssMiB(fresh.pid());
  const bareRss = peakRssMiB(bare.pid());
  await fresh.client.close();
  await bare.client.close();
  const rows = [
    startRow,
    [`get_secret via stdio proxy vs ${peer.label} direct (first ${n} calls of a fresh process and client)`, ms(proxied.p50), ms(direct.p50), figure(`${peer.kind} proxy get_secret p50, cold, vs ${peer.label} direct`, proxied.p50, direct.p50, 'ms', { max: 1.3 }), ms(proxied.p99), ms(direct.p99), figure(`${peer.kind} proxy get_secret p99, cold, vs ${peer.label} direct`, proxied.p99, direct.p99, 'ms', { max: 1.3 }), 'p50, p99 ≤ 1.30×'],
    [`peak RSS (MiB) over those ${n} calls vs the bare SDK stdio server over ${n} calls`, oursRss.toFixed(1), bareRss.toFixed(1), figure(`${peer.kind} proxy peak RSS vs bare SDK stdio server`, oursRss, bareRss, 'MiB', { max: 1.2 }), '—', '—', '—', '≤ 1.20×'],
  ];
  if (peer.cache) {
    const cachedInit = configFor(peer, peer.cache);
    const cached = await spawnServer([CLI, '--config', cachedInit.config_path], { ...peer.env, ASS_AGENT_KEY: cachedInit.agent_key, ASS_LOG_LEVEL: 'warn' });
    // The same secret (same prefix): warm the cache with one read, then interleave with direct reads.
    const hit = await measure(n, 20, read(cached));
    const warmDirect = await measure(n, 20, () => peer.directRead({ ...args, prefix }));
    await cached.client.close();
    rows.push([`get_secret via stdio proxy, read cache on (${JSON.stringify(peer.cache)}), vs ${peer.label} direct, both warm`, ms(hit.p50), ms(warmDirect.p50), figure(`${peer.kind} proxy cached get_secret p50 vs ${peer.label} direct`, hit.p50, warmDirect.p50, 'ms', { max: 1 }), ms(hit.p99), ms(warmDirect.p99), figure(`${peer.kind} proxy cached get_secret p99 vs ${peer.label} direct`, hit.p99, warmDirect.p99, 'ms'), 'p50 ≤ 1.00×']);
  }
  await peer.stop();
  return rows;
}

async function awsPeer(prefix: string): Promise<Peer | string> {
  const peer = await startAwsPeer();
  if ('skipReason' in peer) return peer.skipReason;
  const sdk = new SecretsManagerClient({ region: peer.region, endpoint: peer.endpoint, credentials: peer.credentials });
  return {
    kind: 'aws',
    label: `AWS SDK on ${peer.kind}`,
    cache: { ttl: '30s' },
    backend: { type: 'aws', region: peer.region, endpoint: peer.endpoint, prefix },
    env: { AWS_ACCESS_KEY_ID: peer.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: peer.credentials.secretAccessKey, AWS_REGION: peer.region },
    directRead: (name) => sdk.send(new GetSecretValueCommand({ SecretId: `${name.prefix}/${name.namespace}/${name.key}` })),
    stop: async () => {
      sdk.destroy();
      await peer.stop();
    },
  };
}

async function vaultPeer(prefix: string): Promise<Peer | string> {
  const peer = await startVaultPeer();
  if ('skipReason' in peer) return peer.skipReason;
  const { default: nodeVault } = await import('node-vault');
  const vault = nodeVault({ endpoint: peer.address, token: peer.token, apiVersion: 'v1' });
  return {
    kind: 'vault',
    label: `node-vault on Vault (${peer.via})`,
    cache: { ttl: '30s' },
    backend: { type: 'vault', address: peer.address, mount: 'secret', prefix, auth: { method: 'token', token_env: 'VAULT_BENCH_TOKEN' } },
    env: { VAULT_BENCH_TOKEN: peer.token },
    directRead: (name) => vault.read(`secret/data/${name.prefix}/${name.namespace}/${name.key}`),
    stop: () => peer.stop(),
  };
}

/** get_secret through the proxy against each vendor's own client, same server, same run. */
export async function runExternalBench(options: { calls?: number } = {}): Promise<string> {
  const n = options.calls ?? 1000;
  const rows: string[][] = [['measure', 'proxy p50', 'direct p50', 'ratio p50', 'proxy p99', 'direct p99', 'ratio p99', 'target']];
  const notes: string[] = [];
  for (const [make, target] of [[vaultPeer, 'Vault'], [awsPeer, 'AWS']] as const) {
    const prefix = `ass-bench-${Date.now().toString(36)}`;
    const peer = await make(prefix);
    if (typeof peer === 'string') {
      notes.push(`Skipped (${target}): ${peer}`);
      continue;
    }
    rows.push(...(await benchPeer(peer, prefix, n)));
  }
  return ['### External backends: stdio proxy vs the vendor client, same server', '', table(rows), '', ...notes].join('\n');
}
