import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { parseDocument } from 'yaml';
import { createFileBackend, createKeyFile } from '../src/adapters/file/index.js';
import { createPostgresBackend } from '../src/adapters/postgres/index.js';
import type { SecretBackend } from '../src/adapters/backend.js';
import { postgresPeerMissing, startPostgresPeer } from '../test/helpers/postgres-peer.js';
import { measure, ms, ratio, table } from './stats.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');

/** get_secret over a real stdio server whose backend is `backend` (state and audit on files). */
async function stdioGet(backend: Record<string, unknown>, env: Record<string, string>, n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-pg-'));
  try {
    const init = JSON.parse(execFileSync('node', [CLI, 'init', '--dir', join(dir, 'home'), '--json'], { encoding: 'utf8' })) as { config_path: string; agent_key: string };
    const doc = parseDocument(readFileSync(init.config_path, 'utf8'));
    if (backend.type !== 'file') doc.set('backend', doc.createNode(backend));
    writeFileSync(init.config_path, doc.toString());
    const client = new Client({ name: 'bench', version: '1' });
    await client.connect(new StdioClientTransport({ command: 'node', args: [CLI, '--config', init.config_path], env: { ...(process.env as Record<string, string>), ...env, ASS_AGENT_KEY: init.agent_key, ASS_LOG_LEVEL: 'warn' }, stderr: 'ignore' }));
    const args = { namespace: 'bench/read', key: 'API_KEY' };
    const set = await client.callTool({ name: 'set_secret', arguments: { ...args, value: 'x'.repeat(64), access_tier: 'sensitive' } });
    if (set.isError) throw new Error(`seeding the ${String(backend.type)} benchmark failed`);
    const summary = await measure(n, 20, async () => {
      const res = await client.callTool({ name: 'get_secret', arguments: args });
      if (res.isError) throw new Error(`get_secret failed during the benchmark: ${JSON.stringify(res.content)}`);
    });
    await client.close();
    return summary;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function adapterGet(backend: SecretBackend, n: number) {
  await backend.put({ namespace: 'bench', key: 'K', value: 'x'.repeat(64), secret_type: 'api_key', access_tier: 'sensitive', metadata: {} });
  return measure(n, 50, () => backend.get('bench', 'K'));
}

/** The postgres backend against the file backend, same machine, same run: adapter get and get_secret over stdio. */
export async function runPostgresBench(): Promise<string> {
  const missing = postgresPeerMissing();
  if (missing) return `### PostgreSQL backend\n\nNot measured: ${missing}`;
  const peer = await startPostgresPeer();
  const dir = mkdtempSync(join(tmpdir(), 'ass-bench-pgkey-'));
  try {
    const keyFile = join(dir, 'store.key');
    await createKeyFile(keyFile);
    const file = await createFileBackend({ type: 'file', path: join(dir, 'store'), key_file: keyFile });
    const pg = await createPostgresBackend({ type: 'postgres', url: await peer.newDatabase(), key_file: keyFile, migrate_on_start: true });
    const n = 500;
    const fileAdapter = await adapterGet(file, n);
    const pgAdapter = await adapterGet(pg, n);
    await pg.close();
    // Under the default per-agent burst (200 calls) of the stdio rate limit, warm-up included.
    const stdioN = 150;
    const fileStdio = await stdioGet({ type: 'file' }, {}, stdioN);
    // The URL reaches the config through ${PG_URL}: the per-run password is never written to disk.
    const pgStdio = await stdioGet({ type: 'postgres', url: '${PG_URL}', key_file: './store.key', migrate_on_start: true }, { PG_URL: await peer.newDatabase() }, stdioN);
    return [
      '### PostgreSQL backend vs file backend (same run, PostgreSQL on loopback)',
      '',
      table([
        ['measure', 'postgres p50', 'file p50', 'ratio', 'postgres p99', 'file p99', 'ratio'],
        [`backend.get (${n} calls)`, ms(pgAdapter.p50), ms(fileAdapter.p50), ratio(pgAdapter.p50, fileAdapter.p50), ms(pgAdapter.p99), ms(fileAdapter.p99), ratio(pgAdapter.p99, fileAdapter.p99)],
        [`get_secret over stdio (${stdioN} calls)`, ms(pgStdio.p50), ms(fileStdio.p50), ratio(pgStdio.p50, fileStdio.p50), ms(pgStdio.p99), ms(fileStdio.p99), ratio(pgStdio.p99, fileStdio.p99)],
      ]),
    ].join('\n');
  } finally {
    await peer.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node --import tsx bench/postgres.ts` runs this section alone.
if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${await runPostgresBench()}\n`);
