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
import { measure, ms, ratio, table } from './stats.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

interface Peer {
  label: string;
  backend: Record<string, unknown>;
  env: Record<string, string>;
  /** Reads the proxy's secret straight from the backend with the vendor's own client. */
  directRead(name: { namespace: string; key: string; prefix: string }): Promise<unknown>;
  stop(): Promise<void>;
}

/** Our stdio proxy against the vendor client reading the same secret from the same server. */
async function benchPeer(peer: Peer, prefix: string, n: number): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-ext-'));
  const init = JSON.parse(execFileSync('node', [CLI, 'init', '--dir', join(dir, 'home'), '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
  const doc = parseDocument(readFileSync(init.config_path, 'utf8'));
  doc.set('backend', doc.createNode(peer.backend));
  writeFileSync(init.config_path, doc.toString());
  const client = new Client({ name: 'bench', version: '1' });
  await client.connect(new StdioClientTransport({ command: 'node', args: [CLI, '--config', init.config_path], env: { ...(process.env as Record<string, string>), ...peer.env, ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' }, stderr: 'ignore' }));
  const args = { namespace: 'bench/read', key: 'API_KEY' };
  const set = await client.callTool({ name: 'set_secret', arguments: { ...args, value: 'x'.repeat(64), access_tier: 'sensitive' } });
  if (set.isError) throw new Error(`seeding the ${peer.label} benchmark failed`);
  const direct = await measure(n, 20, () => peer.directRead({ ...args, prefix }));
  const proxied = await measure(n, 20, async () => {
    const res = await client.callTool({ name: 'get_secret', arguments: args });
    if (res.isError) throw new Error('get_secret failed during the benchmark');
  });
  await client.close();
  await peer.stop();
  return [`get_secret via stdio proxy vs ${peer.label} direct (${n} calls)`, ms(proxied.p50), ms(direct.p50), ratio(proxied.p50, direct.p50), ms(proxied.p99), ms(direct.p99), ratio(proxied.p99, direct.p99)];
}

async function awsPeer(prefix: string): Promise<Peer | string> {
  const peer = await startAwsPeer();
  if ('skipReason' in peer) return peer.skipReason;
  const sdk = new SecretsManagerClient({ region: peer.region, endpoint: peer.endpoint, credentials: peer.credentials });
  return {
    label: `AWS SDK on ${peer.kind}`,
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
    label: `node-vault on Vault (${peer.via})`,
    backend: { type: 'vault', address: peer.address, mount: 'secret', prefix, auth: { method: 'token', token_env: 'VAULT_BENCH_TOKEN' } },
    env: { VAULT_BENCH_TOKEN: peer.token },
    directRead: (name) => vault.read(`secret/data/${name.prefix}/${name.namespace}/${name.key}`),
    stop: () => peer.stop(),
  };
}

/** get_secret through the proxy against each vendor's own client, same server, same run. */
export async function runExternalBench(options: { calls?: number } = {}): Promise<string> {
  const n = options.calls ?? 300;
  const rows: string[][] = [['measure', 'proxy p50', 'direct p50', 'ratio p50', 'proxy p99', 'direct p99', 'ratio p99']];
  const notes: string[] = [];
  for (const [make, target] of [[vaultPeer, 'Vault: p50 ≤ 1.30×'], [awsPeer, 'AWS: none set']] as const) {
    const prefix = `ass-bench-${Date.now().toString(36)}`;
    const peer = await make(prefix);
    if (typeof peer === 'string') {
      notes.push(`Skipped (${target}): ${peer}`);
      continue;
    }
    rows.push(await benchPeer(peer, prefix, n));
    notes.push(`Target ${target}.`);
  }
  return ['### External backends: stdio proxy vs the vendor client, same server', '', table(rows), '', ...notes].join('\n');
}
